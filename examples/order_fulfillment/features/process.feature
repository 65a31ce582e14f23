Feature: The fulfilment workflow ships each order once
  Background:
    Given the process manager "order_fulfillment.process:FulfillmentProcess" in domain "fulfillment" from domains "order, inventory" to domains "inventory, shipping"

  Scenario: Reserve, then ship
    When OrderCreated is delivered from domain "order" root "order-1" in workflow "checkout-1"
      | field    | value   |
      | order_id | order-1 |
      | sku      | sku-red |
    Then the saga emits ReserveInventory to domain "inventory"
    When InventoryReserved is delivered from domain "inventory" root "sku-red" in workflow "checkout-1"
      | field    | value   |
      | order_id | order-1 |
    Then the saga emits ShipOrder to domain "shipping"
    And the process manager state for workflow "checkout-1" has events:
      | sequence | type               |
      | 0        | FulfillmentStarted |
      | 1        | ShipmentRequested  |
    And the harness is clean

  Scenario: A redelivered order starts the workflow once
    When OrderCreated is delivered from domain "order" root "order-1" in workflow "checkout-1"
    And the trigger is redelivered 5 times
    Then the process manager state for workflow "checkout-1" has events:
      | sequence | type               |
      | 0        | FulfillmentStarted |
    And there are no findings
