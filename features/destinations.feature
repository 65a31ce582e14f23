Feature: The Destinations contract
  A saga stamps outgoing commands from the framework's destination_sequences map, or
  stamps an angzarr_deferred header so the destination dedupes on
  (source.root, source_seq, target.root).

  Scenario: The map lists its domains and their next sequences
    Given the destination sequences:
      | domain    | next_sequence |
      | inventory | 5             |
      | payment   | 0             |
    Then the destinations list domains "inventory, payment"
    And the sequence for domain "inventory" is 5
    And the sequence for domain "payment" is 0
    And domain "shipping" has no sequence

  Scenario: Stamping sets the sequence on every page
    Given the destination sequences:
      | domain    | next_sequence |
      | inventory | 5             |
    When the saga stamps a ReserveInventory command of 3 pages for domain "inventory"
    Then every page of the command has sequence 5

  Scenario: Stamping a domain the map lacks fails with a coded error and stamps nothing
    Given the destination sequences:
      | domain    | next_sequence |
      | inventory | 5             |
    When the saga stamps a ShipOrder command of 2 pages for domain "shipping"
    Then stamping fails with code "MISSING_DESTINATION_SEQUENCE" for domain "shipping"
    And the command is left unstamped

  Scenario: With no output domains declared every stamp fails
    Given no destination sequences
    When the saga stamps a ReserveInventory command of 1 pages for domain "inventory"
    Then stamping fails with code "MISSING_DESTINATION_SEQUENCE" for domain "inventory"

  Scenario: A deferred header carries a copy of the trigger cover and its sequence
    Given a trigger from domain "order" root "order-1"
    When the saga builds a deferred header at sequence 3
    Then the deferred header names source domain "order" root "order-1" and source_seq 3
    And changing the trigger cover leaves the deferred header as it was

  Scenario Outline: A deferred header refuses sequences outside uint32
    Given a trigger from domain "order" root "order-1"
    When the saga builds a deferred header at sequence <seq>
    Then building fails with code "SEQUENCE_OUT_OF_RANGE"

    Examples:
      | seq        |
      | 4294967296 |
      | -1         |
