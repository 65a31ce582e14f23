Feature: Every finding kind the oracle reports
  See docs/findings.md for what each kind means and how to fix the saga.

  Scenario: double-apply
    Given the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
    And the framework profile "sequence-map"
    When OrderCreated is delivered from root "order-1"
    And the trigger is redelivered 2 times
    Then there is a finding of kind "double-apply"

  Scenario: lost-command and sequence-mismatch
    Given the saga "sagas:stale_saga" from domain "order" to domains "inventory"
    And the framework profile "sequence-map"
    And destination "inventory" root "sku-1" at sequence 5
    When OrderCreated is delivered from root "order-1"
      | field | value |
      | sku   | sku-1 |
    Then there is a finding of kind "sequence-mismatch"
    And there is a finding of kind "lost-command"
    And business logic on "inventory" root "sku-1" ran 0 times

  Scenario: dedupe-collision
    Given the saga "sagas:colliding_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
      | field | value |
      | sku   | sku-1 |
    Then the saga emits 2 commands
    And the only findings are of kind "dedupe-collision"
    And business logic on "inventory" root "sku-1" ran 1 times

  Scenario: nondeterministic-output
    Given the saga "sagas:random_id_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
    And the trigger is redelivered 1 times
    Then there is a finding of kind "nondeterministic-output"

  Scenario: unstamped-command
    Given the saga "sagas:unstamped_saga" from domain "order" to domains "inventory"
    And the framework profile "sequence-map"
    When OrderCreated is delivered from root "order-1"
    Then the only findings are of kind "unstamped-command"

  Scenario: missing-destination-sequence
    Given the saga "sagas:stamps_shipping_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
    Then the saga fails to stamp domain "shipping" with code "MISSING_DESTINATION_SEQUENCE"
    And the only findings are of kind "missing-destination-sequence"

  Scenario: invalid-command
    Given the saga "sagas:bad_cover_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
    Then the only findings are of kind "invalid-command"

  Scenario: handler-error
    Given the saga "sagas:exploding_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
    Then the only findings are of kind "handler-error"

  Scenario: silent-handler: the saga catches and logs its own error and returns nothing
    Given the saga "sagas:swallowing_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
    Then the saga emits 0 commands
    And the only findings are of kind "silent-handler"

  Scenario: missing-destination-sequence although the saga swallows the error
    Given the saga "sagas:swallowing_stamp_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
    Then the only findings are of kind "missing-destination-sequence"

  Scenario: rejected-command is a note
    Given the saga "sagas:deferred_saga" from domain "order" to domains "inventory"
    And aggregate "inventory" runs business logic "sagas:refusing_inventory"
    When OrderCreated is delivered from root "order-1"
      | field | value |
      | sku   | sku-1 |
    Then the only findings are of kind "rejected-command"
    And the harness is clean

  Scenario: dead-lettered
    Given the saga "sagas:stale_manual_saga" from domain "order" to domains "inventory"
    And destination "inventory" root "sku-1" at sequence 5
    When OrderCreated is delivered from root "order-1"
      | field | value |
      | sku   | sku-1 |
    Then the only findings are of kind "dead-lettered"

  Scenario: invalid-provenance
    Given the saga "sagas:wrong_provenance_saga" from domain "order" to domains "inventory"
    When OrderCreated is delivered from root "order-1"
    Then there is a finding of kind "invalid-provenance"
