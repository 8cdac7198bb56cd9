"""Django settings for the test suite. Each test sets STATICFILES_DIRS and
STORAGES itself (see conftest.py)."""

SECRET_KEY = "staticship-tests"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "staticship",
    "django.contrib.staticfiles",
]
STATIC_URL = "/static/"
STATIC_ROOT = None
STATICFILES_DIRS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
LOGGING_CONFIG = None
