"""The kit's own suite. Its pytest plugin loads itself (pytest11 entry point); pytester drives
it in tests/test_pytest_plugin.py."""

pytest_plugins = ["pytester"]
