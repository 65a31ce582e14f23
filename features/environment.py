from angzarr_testkit.behave.environment import before_scenario  # noqa: F401
