"""staticship: a fast ``collectstatic`` for cloud object storage.

Add ``"staticship"`` to ``INSTALLED_APPS`` before ``"django.contrib.staticfiles"``
and keep running ``manage.py collectstatic``.
"""

__version__ = "0.1.0"
