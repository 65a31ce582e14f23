from angzarr_testkit.behave.steps import *  # noqa: F401,F403
