Feature: Redelivery storms
  A seeded at-least-once bus injects duplicates, crashes, requeues and concurrent
  redeliveries; the oracle checks the destination dedupe across thousands of deliveries.

  Scenario: A deferred-header saga survives every fault
    Given the saga "sagas:strict_deferred_saga" from domain "order" to domains "inventory"
    And storm events from "sagas:one_sku"
    When a storm of 300 events over 10 roots runs with seed 7
      | fault                 | value |
      | duplicate             | 0.1   |
      | crash-before-ack      | 0.05  |
      | crash-mid-dispatch    | 0.05  |
      | nack-requeue          | 0.05  |
      | concurrent-redelivery | 0.05  |
      | reorder               | true  |
    Then the storm is clean
    And fault "duplicate" occurred
    And fault "crash-before-ack" occurred
    And fault "concurrent-redelivery" occurred
    And business logic ran once per event

  Scenario: An explicit-sequence saga double-applies in a storm
    Given the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
    And the framework profile "sequence-map"
    And storm events from "sagas:one_sku"
    When a storm of 300 events over 10 roots runs with seed 7
      | fault     | value |
      | duplicate | 0.1   |
    Then the storm has a finding of kind "double-apply"
