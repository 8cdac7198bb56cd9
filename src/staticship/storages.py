"""Manifest storages for Google Cloud Storage and Azure Blob, ready to name
in ``STORAGES["staticfiles"]["BACKEND"]``.

django-storages ships ``S3ManifestStaticStorage`` only. These are its twins:
Django's ``ManifestFilesMixin`` over the django-storages backend, set up as
S3StaticStorage is for static files: URLs that do not change from one call
to the next (no signature in them), and a name that is overwritten rather
than suffixed when it exists (so the manifest keeps its name).

Each class exists only when its backend's client library is installed (the
``gcs`` or ``azure`` extra).
"""

from __future__ import annotations

from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.exceptions import ImproperlyConfigured

__all__: list[str] = []

try:
    from storages.backends.gcloud import GoogleCloudStorage
except (ImportError, ImproperlyConfigured):  # pragma: no cover - the [gcs] extra is missing
    pass
else:

    class GoogleCloudManifestStorage(ManifestFilesMixin, GoogleCloudStorage):
        """ManifestFilesMixin over GoogleCloudStorage."""

        # url() must not sign: the same name always gives the same URL.
        querystring_auth = False
        file_overwrite = True

    __all__.append("GoogleCloudManifestStorage")

try:
    from azure.core.exceptions import ResourceNotFoundError
    from storages.backends.azure_storage import AzureStorage
except ImportError:  # pragma: no cover - the [azure] extra is missing
    pass
else:

    class AzureManifestStorage(ManifestFilesMixin, AzureStorage):
        """ManifestFilesMixin over AzureStorage."""

        # url() must not carry a SAS token: the same name always gives the same URL.
        expiration_secs = None
        # A second save of a name replaces it (AzureStorage adds a random
        # suffix by default, which would rename the manifest).
        overwrite_files = True

        def read_manifest(self) -> str | None:
            # AzureStorage raises the SDK's error, not FileNotFoundError, for a
            # missing blob: without this the class cannot even be created
            # before the first deployment (ManifestFilesMixin reads the
            # manifest in __init__).
            try:
                manifest: str | None = super().read_manifest()
                return manifest
            except ResourceNotFoundError:
                return None

    __all__.append("AzureManifestStorage")
