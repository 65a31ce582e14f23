Feature: Order fulfilment reserves stock and charges the customer exactly once
  The fulfilment saga turns OrderCreated into ReserveInventory and ChargePayment. AMQP may
  deliver OrderCreated more than once; the customer must be charged once.

  Background:
    Given the saga "order_fulfillment.sagas:OrderFulfillmentSaga" from domain "order" to domains "inventory, payment"
    And the setup "order_fulfillment.testing:stocked"

  Scenario: An order reserves its items and charges its amount
    When OrderCreated is delivered from root "order-1"
      | field        | value   |
      | order_id     | order-1 |
      | customer_id  | ada     |
      | sku          | sku-red |
      | quantity     | 2       |
      | amount_cents | 4200    |
    Then the saga emits 2 commands
    And the saga emits ReserveInventory to domain "inventory"
      | field    | value   |
      | sku      | sku-red |
    And the saga emits ChargePayment to domain "payment"
      | field        | value |
      | amount_cents | 4200  |
    And the command to domain "payment" is deferred from domain "order" root "order-1" at sequence 0

  Scenario: A redelivered order is charged once
    When OrderCreated is delivered from root "order-1"
      | field        | value   |
      | customer_id  | ada     |
      | amount_cents | 4200    |
    And the trigger is redelivered 5 times
    Then the harness is clean

  Scenario: Ordering more than the stock is refused
    When OrderCreated is delivered from root "order-1"
      | field    | value   |
      | sku      | sku-red |
      | quantity | 250000  |
    Then the only findings are of kind "rejected-command"
    And the harness is clean

  Scenario: A storm of orders is fulfilled exactly once each
    Given storm events from "order_fulfillment.testing:order_events"
    When a storm of 500 events over 20 roots runs with seed 11
      | fault            | value |
      | duplicate        | 0.1   |
      | crash-before-ack | 0.05  |
      | reorder          | true  |
    Then the storm is clean
    And fault "duplicate" occurred
    And fault "crash-before-ack" occurred

  Scenario: The explicit-sequence variant fails on every trigger under angzarr core
    Given the saga "order_fulfillment.sagas:ExplicitSequenceSaga" from domain "order" to domains "inventory, payment"
    When OrderCreated is delivered from root "order-1"
      | field       | value |
      | customer_id | ada   |
    Then there is a finding of kind "missing-destination-sequence"

  Scenario: The explicit-sequence variant double-charges on redelivery under the map protocol
    Given the saga "order_fulfillment.sagas:ExplicitSequenceSaga" from domain "order" to domains "inventory, payment"
    And the framework profile "sequence-map"
    When OrderCreated is delivered from root "order-1"
      | field       | value |
      | customer_id | ada   |
    And the trigger is redelivered 1 times
    Then there is a finding of kind "double-apply"
