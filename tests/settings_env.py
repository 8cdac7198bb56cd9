"""Settings for tests that run ``collectstatic`` in a child process: the
test's STATICFILES_DIRS, STORAGES and STATICSHIP_* come as JSON in the
environment variable STATICSHIP_TEST_DJANGO."""

import json
import os

from tests.settings import *  # noqa: F401,F403

globals().update(json.loads(os.environ.get("STATICSHIP_TEST_DJANGO", "{}")))
