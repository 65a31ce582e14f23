Feature: Process managers
  A process manager's state is its own stream per workflow (correlation id); its commands
  carry provenance from its own events, so a redelivered trigger dedupes.

  Background:
    Given the framework profile "deferred-rewrite"
    And the process manager "pms:fulfillment_pm" in domain "fulfillment" from domains "order, inventory" to domains "inventory, shipping"

  Scenario: State threads through the workflow and commands carry PM provenance
    When OrderCreated is delivered from domain "order" root "order-1" in workflow "w-1"
      | field    | value |
      | order_id | o-1   |
      | sku      | sku-1 |
    Then the saga emits ReserveInventory to domain "inventory"
    When InventoryReserved is delivered from domain "inventory" root "sku-1" in workflow "w-1"
      | field    | value |
      | order_id | o-1   |
    Then the saga emits ShipOrder to domain "shipping"
    And the process manager state for workflow "w-1" has events:
      | sequence | type               |
      | 0        | FulfillmentStarted |
      | 1        | ShipmentRequested  |
    And the harness is clean

  Scenario: A redelivered trigger changes nothing
    When OrderCreated is delivered from domain "order" root "order-1" in workflow "w-1"
      | field | value |
      | sku   | sku-1 |
    And the trigger is redelivered 3 times
    Then the saga emits no commands
    And business logic on "inventory" root "sku-1" ran 1 times
    And there are no findings

  Scenario: A process manager that ignores its state applies a trigger twice
    Given the process manager "pms:forgetful_pm" in domain "fulfillment" from domains "order, inventory" to domains "inventory, shipping"
    When OrderCreated is delivered from domain "order" root "order-1" in workflow "w-1"
    And the trigger is redelivered 1 times
    Then there is a finding of kind "double-apply"

  Scenario: Uncorrelated triggers are skipped
    When OrderCreated is delivered from domain "order" root "order-1" without a correlation id
    Then the trigger was skipped
    And there are no findings

  Scenario: A poison trigger is requeued until the delivery limit
    Given the process manager "pms:poison_pm" in domain "fulfillment" from domains "order" to domains "inventory"
    When OrderCreated is delivered from domain "order" root "order-1" in workflow "w-1"
    Then the trigger was dead-lettered after 21 deliveries
    And there is a finding of kind "handler-error"

  Scenario: A process manager storm
    Given storm events from "pms:order_events"
    When a storm of 200 events over 200 roots runs with seed 3
      | fault            | value |
      | duplicate        | 0.1   |
      | crash-before-ack | 0.05  |
    Then the storm is clean
    And fault "duplicate" occurred
