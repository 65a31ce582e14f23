Feature: Redelivery and the (source.root, source_seq, target.root) dedupe
  AMQP delivers at least once. A saga that stamps a deferred header naming its trigger lets
  the destination recognise a redelivered command; one that stamps the fresh sequence map
  does not.

  Scenario: A deferred header dedupes every redelivery
    Given the saga "sagas:strict_deferred_saga" from domain "order" to domains "inventory"
    And destination "inventory" root "sku-1" at sequence 5
    When OrderCreated is delivered from root "order-1"
      | field    | value |
      | order_id | o-1   |
      | sku      | sku-1 |
      | quantity | 2     |
    And the trigger is redelivered 20 times
    Then the saga emits ReserveInventory to domain "inventory"
      | field    | value |
      | order_id | o-1   |
      | quantity | 2     |
    And the command to domain "inventory" is deferred from domain "order" root "order-1" at sequence 0
    And business logic on "inventory" root "sku-1" ran 1 times
    And aggregate "inventory" root "sku-1" deduped 20 deliveries
    And aggregate "inventory" root "sku-1" has events:
      | sequence | type             |
      | 5        | ReserveInventory |
    And there are no findings

  Scenario: Stamping the sequence map double-applies on redelivery
    Given the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
    And the framework profile "sequence-map"
    And destination "inventory" root "sku-1" at sequence 5
    When OrderCreated is delivered from root "order-1"
      | field | value |
      | sku   | sku-1 |
    Then the command to domain "inventory" is stamped with sequence 5
    When the trigger is redelivered 1 times
    Then the command to domain "inventory" is stamped with sequence 6
    And business logic on "inventory" root "sku-1" ran 2 times
    And the only findings are of kind "double-apply"

  Scenario: Different triggers never dedupe each other
    Given the saga "sagas:strict_deferred_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
      | field | value |
      | sku   | sku-1 |
    And OrderCreated is delivered from root "order-2"
      | field | value |
      | sku   | sku-1 |
    Then business logic on "inventory" root "sku-1" ran 2 times
    And there are no findings
