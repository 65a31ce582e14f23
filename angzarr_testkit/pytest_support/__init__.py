"""What the pytest plugin (:mod:`angzarr_testkit.pytest_plugin`) is made of, one job a module.

``settings`` (the session's settings and seeds), ``options`` (the command line and ini),
``markers`` (``angzarr_allow`` and ``angzarr_storm``), ``summary`` (the terminal summary's
section), ``verdict`` (per-test state and its failure report) and ``fixtures``. pytest loads
the plugin module, which defines the hooks and re-exports the fixtures from here.
"""
