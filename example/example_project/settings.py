"""Settings of the staticship example project.

Everything that varies comes from the environment (example/README.md):

STATICSHIP_EXAMPLE_STORAGE   s3 (default), gcs, azure or local
STATICSHIP_EXAMPLE_MANIFEST  1 for the hashed-name (manifest) variant
STATICSHIP_EXAMPLE_LOCATION  key prefix in the bucket (default "static")
STATICSHIP_EXAMPLE_TREE      a directory of extra static files (the demo
                             generates one with example_project.generate)
S3:    STATICSHIP_EXAMPLE_S3_BUCKET, STATICSHIP_EXAMPLE_S3_ENDPOINT (only for
       an emulator or another S3-compatible store), the usual AWS_* variables
GCS:   STATICSHIP_EXAMPLE_GCS_BUCKET, GOOGLE_APPLICATION_CREDENTIALS
Azure: STATICSHIP_EXAMPLE_AZURE_CONTAINER, AZURE_STORAGE_CONNECTION_STRING
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
env = os.environ.get

SECRET_KEY = "staticship-example-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
USE_TZ = True

INSTALLED_APPS = [
    "staticship",  # before django.contrib.staticfiles (check staticship.W001)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# collectstatic needs no database; this one is only created if you migrate.
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "example.sqlite3"}
}

STATIC_URL = "/static/"
STATIC_ROOT = env("STATICSHIP_EXAMPLE_STATIC_ROOT") or str(BASE_DIR / "collected")
STATICFILES_DIRS = [env("STATICSHIP_EXAMPLE_TREE")] if env("STATICSHIP_EXAMPLE_TREE") else []

KIND = env("STATICSHIP_EXAMPLE_STORAGE", "s3")
MANIFEST = env("STATICSHIP_EXAMPLE_MANIFEST", "") in ("1", "true", "yes")
LOCATION = env("STATICSHIP_EXAMPLE_LOCATION", "static")

if KIND == "s3":
    options = {
        "bucket_name": env("STATICSHIP_EXAMPLE_S3_BUCKET", "staticship-example"),
        "location": LOCATION,
        "file_overwrite": True,
        "querystring_auth": False,
        "default_acl": None,
    }
    if env("STATICSHIP_EXAMPLE_S3_ENDPOINT"):
        options["endpoint_url"] = env("STATICSHIP_EXAMPLE_S3_ENDPOINT")
    if env("AWS_DEFAULT_REGION"):
        options["region_name"] = env("AWS_DEFAULT_REGION")
    backend = (
        "storages.backends.s3.S3ManifestStaticStorage" if MANIFEST
        else "storages.backends.s3.S3Storage"
    )
elif KIND == "gcs":
    options = {
        "bucket_name": env("STATICSHIP_EXAMPLE_GCS_BUCKET", "staticship-example"),
        "location": LOCATION,
        "file_overwrite": True,
        "querystring_auth": False,
    }
    backend = (
        "example_project.storages.GoogleCloudManifestStorage" if MANIFEST
        else "storages.backends.gcloud.GoogleCloudStorage"
    )
elif KIND == "azure":
    options = {
        "azure_container": env("STATICSHIP_EXAMPLE_AZURE_CONTAINER", "staticship-example"),
        "connection_string": env("AZURE_STORAGE_CONNECTION_STRING"),
        "location": LOCATION,
        "overwrite_files": True,
    }
    backend = (
        "example_project.storages.AzureManifestStorage" if MANIFEST
        else "storages.backends.azure_storage.AzureStorage"
    )
elif KIND == "local":
    options = {}
    backend = (
        "django.contrib.staticfiles.storage.ManifestStaticFilesStorage" if MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    )
else:
    raise ValueError("STATICSHIP_EXAMPLE_STORAGE must be s3, gcs, azure or local, not %r" % KIND)

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": backend, "OPTIONS": options},
}
if env("STATICSHIP_EXAMPLE_WORKERS"):
    STATICSHIP_WORKERS = int(env("STATICSHIP_EXAMPLE_WORKERS"))
