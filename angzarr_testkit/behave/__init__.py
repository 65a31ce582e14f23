"""The shared Gherkin (behave) step library.

Register every step with one import in ``features/steps/``::

    from angzarr_testkit.behave.steps import *  # noqa: F401,F403

and wire state in ``features/environment.py``::

    from angzarr_testkit.behave.environment import before_scenario  # noqa: F401

:data:`angzarr_testkit.behave.vocabulary.VOCABULARY` lists every step (pattern, description,
example); ``docs/steps.md`` is generated from it.
"""
