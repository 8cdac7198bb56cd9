"""Manifest (hashed-name) variants of the cloud storages, for
``STATICSHIP_EXAMPLE_MANIFEST=1``. django-storages ships one for S3 only
(``storages.backends.s3.S3ManifestStaticStorage``)."""

from django.contrib.staticfiles.storage import ManifestFilesMixin

try:  # the [gcs] extra
    from storages.backends.gcloud import GoogleCloudStorage
except ImportError:  # pragma: no cover
    pass
else:

    class GoogleCloudManifestStorage(ManifestFilesMixin, GoogleCloudStorage):
        pass


try:  # the [azure] extra
    from storages.backends.azure_storage import AzureStorage
except ImportError:  # pragma: no cover
    pass
else:

    class AzureManifestStorage(ManifestFilesMixin, AzureStorage):
        pass
