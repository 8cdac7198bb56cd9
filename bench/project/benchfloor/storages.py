from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.files.storage import InMemoryStorage


class InMemoryManifestStorage(ManifestFilesMixin, InMemoryStorage):
    """ManifestStaticFilesStorage's post-processing, kept in memory."""
