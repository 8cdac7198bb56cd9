"""Settings of the benchmark project; bench/run.py drives them with env vars.

BENCH_VARIANT   stock | collectfasta | staticship | staticship-plain (the same
                settings, run from a virtualenv without obstore) | floor
BENCH_STORAGE   s3 (storages.backends.s3.S3Storage)
                | s3manifest (storages.backends.s3.S3ManifestStaticStorage)
                | gcs (storages.backends.gcloud.GoogleCloudStorage)
                | azure (storages.backends.azure_storage.AzureStorage)
BENCH_SOURCE    the static tree (a STATICFILES_DIRS entry)
BENCH_ENDPOINT  the S3 endpoint, BENCH_BUCKET its bucket (the container for
                Azure), BENCH_LOCATION the key prefix ("static" by default)
BENCH_AZURE_CONNECTION_STRING  Azurite's connection string (azure)
STORAGE_EMULATOR_HOST          fake-gcs-server's address (gcs; read by
                google-cloud-storage and by staticship)
BENCH_CACHE_CONTROL  the S3 storages' CacheControl object parameter (the
                "cache setting changed" scenario)
BENCH_CACHE_DIR Collectfasta's cache folder with BENCH_COLLECTFASTA_CACHE=file
BENCH_STATIC_ROOT  STATIC_ROOT (unused by remote storages; required by Django
                for local ones)

Every variant gets the same storage settings; only what each tool's own
documentation asks for differs.
"""

import os

VARIANT = os.environ.get("BENCH_VARIANT", "stock")
STORAGE = os.environ.get("BENCH_STORAGE", "s3")

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
USE_TZ = True
ROOT_URLCONF = "benchproj.urls"
DATABASES = {}
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("BENCH_STATIC_ROOT", "/tmp/staticship-bench-static-root")
STATICFILES_DIRS = [os.environ["BENCH_SOURCE"]] if os.environ.get("BENCH_SOURCE") else []

INSTALLED_APPS = ["django.contrib.staticfiles"]
if VARIANT in ("staticship", "staticship-plain"):
    INSTALLED_APPS.insert(0, "staticship")
    if os.environ.get("BENCH_STATICSHIP_WORKERS"):  # experiments only; the report uses the default
        STATICSHIP_WORKERS = int(os.environ["BENCH_STATICSHIP_WORKERS"])
elif VARIANT == "collectfasta":
    INSTALLED_APPS.insert(0, "collectfasta")
elif VARIANT == "floor":
    INSTALLED_APPS.append("benchfloor")

S3_OPTIONS = {
    "bucket_name": os.environ.get("BENCH_BUCKET", "bench"),
    "endpoint_url": os.environ.get("BENCH_ENDPOINT", "http://127.0.0.1:9000"),
    "access_key": os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
    "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"),
    "region_name": "us-east-1",
    "addressing_style": "path",
    "location": os.environ.get("BENCH_LOCATION", "static"),
    "querystring_auth": False,
}
# The "cache setting changed" scenario: the same files, a new Cache-Control.
if os.environ.get("BENCH_CACHE_CONTROL"):
    S3_OPTIONS["object_parameters"] = {"CacheControl": os.environ["BENCH_CACHE_CONTROL"]}

BACKENDS = {
    "s3": "storages.backends.s3.S3Storage",
    "s3manifest": "storages.backends.s3.S3ManifestStaticStorage",
    "gcs": "storages.backends.gcloud.GoogleCloudStorage",
    "azure": "storages.backends.azure_storage.AzureStorage",
}


def _options(storage: str) -> dict:
    location = os.environ.get("BENCH_LOCATION", "static")
    bucket = os.environ.get("BENCH_BUCKET", "bench")
    if storage == "gcs":
        # The emulator takes any caller: anonymous credentials, so that no
        # client looks for credentials elsewhere (metadata server included).
        from google.auth.credentials import AnonymousCredentials

        return {
            "bucket_name": bucket,
            "location": location,
            "project_id": "bench",
            "credentials": AnonymousCredentials(),
            "querystring_auth": False,
        }
    if storage == "azure":
        return {
            "connection_string": os.environ["BENCH_AZURE_CONNECTION_STRING"],
            "azure_container": bucket,
            "location": location,
        }
    return dict(S3_OPTIONS)


# The floor variant keeps these settings too: its bench_floor command builds
# the storage object (imports only, no request) and works locally.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": BACKENDS[STORAGE], "OPTIONS": _options(STORAGE)},
}

if VARIANT == "collectfasta":
    # Collectfasta's README: Boto3Strategy for S3Storage, the in-memory
    # two-pass strategy (marked "recommended") for S3ManifestStaticStorage,
    # GoogleCloudStrategy and AzureBlobStrategy for the other two; 20 threads; a dedicated cache with MAX_ENTRIES above the number of files.
    #
    # The cache is LocMemCache, so it starts empty in every process, as any
    # cache does on an ephemeral CI runner.  Its README warns against LocMem
    # with threads, but Django's LocMemCache takes a lock on every access, and
    # it is the cheapest cache there is: Boto3Strategy lists the bucket on every
    # run and answers from that listing, so a cache saves no request here.
    # BENCH_COLLECTFASTA_CACHE=file switches to FileBasedCache, which globs its
    # whole folder on every set() (Django's _cull), O(n^2) over a run: measured
    # 110 s for a warm 10k-file run.
    COLLECTFASTA_STRATEGY = {
        "s3": "collectfasta.strategies.boto3.Boto3Strategy",
        "s3manifest": "collectfasta.strategies.boto3.Boto3ManifestMemoryStrategy",
        "gcs": "collectfasta.strategies.gcloud.GoogleCloudStrategy",
        "azure": "collectfasta.strategies.azure.AzureBlobStrategy",
    }[STORAGE]
    COLLECTFASTA_THREADS = 20
    if os.environ.get("BENCH_COLLECTFASTA_CACHE", "locmem") == "file":
        _cf_cache = {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.environ.get("BENCH_CACHE_DIR", "/tmp/staticship-bench-collectfasta-cache"),
        }
    else:
        _cf_cache = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "collectfasta"}
    _cf_cache.update({"TIMEOUT": None, "OPTIONS": {"MAX_ENTRIES": 1_000_000}})
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "collectfasta": _cf_cache,
    }
    COLLECTFASTA_CACHE = "collectfasta"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("BENCH_LOG_LEVEL", "WARNING")},
}
