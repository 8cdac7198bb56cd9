"""Settings for the deployment-history test's child processes: as
``tests.settings_env`` (settings as JSON in STATICSHIP_TEST_DJANGO), and a
storage option ``"credentials": "anonymous"`` becomes Google's
``AnonymousCredentials()``, which JSON cannot carry."""

import json
import os

from tests.settings import *  # noqa: F401,F403

globals().update(json.loads(os.environ.get("STATICSHIP_TEST_DJANGO", "{}")))

_options = globals().get("STORAGES", {}).get("staticfiles", {}).get("OPTIONS", {})
if _options.get("credentials") == "anonymous":
    from google.auth.credentials import AnonymousCredentials

    _options["credentials"] = AnonymousCredentials()
