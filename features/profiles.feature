Feature: Framework profiles
  core (the default: angzarr core HEAD) sends an empty map, rewrites every command to a deferred
  header naming the trigger and checks deferred commands against history by merge strategy;
  sequence-map (angzarr-client 0.3's protocol) hands the saga each output domain's next
  sequence; deferred-rewrite fills the map and rewrites every command.

  Scenario: sequence-map fills the map from the first destination of each domain
    Given the saga "sagas:two_domain_saga" from domain "order" to domains "inventory, payment"
    And the framework profile "sequence-map"
    And destination "inventory" root "sku-1" at sequence 5
    And destination "payment" root "c" at sequence 2
    When OrderCreated is delivered from root "order-1"
      | field       | value |
      | sku         | sku-1 |
      | customer_id | c     |
    Then the saga emits 2 commands
    And the command to domain "inventory" is stamped with sequence 5
    And the command to domain "payment" is stamped with sequence 2
    And there are no findings

  Scenario: deferred-rewrite turns explicit sequences into deferred headers that dedupe
    Given the framework profile "deferred-rewrite"
    And the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
    And destination "inventory" root "sku-1" at sequence 5
    When OrderCreated is delivered from root "order-1"
      | field | value |
      | sku   | sku-1 |
    And the trigger is redelivered 3 times
    Then the command to domain "inventory" is deferred from domain "order" root "order-1" at sequence 0
    And business logic on "inventory" root "sku-1" ran 1 times
    And the harness is clean

  Scenario: deferred-rewrite with no output domains gives an empty map
    Given the framework profile "deferred-rewrite"
    And the saga "sagas:explicit_saga" from domain "order" to domains ""
    When OrderCreated is delivered from root "order-1"
    Then the saga fails to stamp domain "inventory" with code "MISSING_DESTINATION_SEQUENCE"
    And the saga emits no commands

  Scenario: core sends an empty map even with output domains, so stamping from it fails
    Given the framework profile "core"
    And the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
    Then the saga fails to stamp domain "inventory" with code "MISSING_DESTINATION_SEQUENCE"
    And the saga emits no commands
    And there is a finding of kind "missing-destination-sequence"

  Scenario: core rewrites a deferred saga's commands and redeliveries dedupe
    Given the framework profile "core"
    And the saga "sagas:strict_deferred_saga" from domain "order" to domains "inventory"
    And destination "inventory" root "sku-1" at sequence 5
    When OrderCreated is delivered from root "order-1"
      | field | value |
      | sku   | sku-1 |
    And the trigger is redelivered 3 times
    Then the command to domain "inventory" is deferred from domain "order" root "order-1" at sequence 0
    And business logic on "inventory" root "sku-1" ran 1 times
    And the harness is clean

  Scenario: core refuses a deferred MERGE_COMMUTATIVE command against history until it is dropped
    Given the saga "sagas:deferred_saga" from domain "order" to domains "inventory"
    And destination "inventory" root "sku-1" at sequence 5
    When OrderCreated is delivered from root "order-1"
      | field | value |
      | sku   | sku-1 |
    Then business logic on "inventory" root "sku-1" ran 0 times
    And there is a finding of kind "sequence-mismatch"
