"""angzarr-testkit: a fake angzarr for testing sagas and process managers."""

__version__ = "0.1.0"
