"""System checks: configuration mistakes surface as ``staticship.*`` ids."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

from . import conf


@register(Tags.staticfiles)
def check_app_order(app_configs: Any, **kwargs: Any) -> list[Warning]:
    apps = list(settings.INSTALLED_APPS)
    names = [a.split(".apps.")[0] for a in apps]
    if "staticship" in names and "django.contrib.staticfiles" in names:
        if names.index("staticship") > names.index("django.contrib.staticfiles"):
            return [
                Warning(
                    "'staticship' is listed after 'django.contrib.staticfiles' in "
                    "INSTALLED_APPS, so the stock collectstatic command wins.",
                    hint="Move 'staticship' before 'django.contrib.staticfiles'.",
                    id="staticship.W001",
                )
            ]
    return []


@register(Tags.staticfiles)
def check_legacy_settings(app_configs: Any, **kwargs: Any) -> list[Warning]:
    return [
        Warning(
            "%s is a Collectfast/Collectfasta setting; staticship honours it." % old,
            hint="Rename it to %s." % new,
            id="staticship.W005",
        )
        for old, new in conf.legacy_in_use()
    ]
