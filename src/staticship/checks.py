"""System checks: configuration mistakes surface as ``staticship.*`` ids.

Each id is documented in docs/checks.md. Errors (``E``) stop
``collectstatic`` before it starts (the setting would break the run or make
it do something the user did not ask for); warnings (``W``) and infos
(``I``) are printed and the run goes on.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Info, Tags, Warning, register
from django.core.files.storage import InMemoryStorage, Storage

from . import conf


@register(Tags.staticfiles)
def check_app_order(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
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
def check_legacy_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = [
        Warning(
            "%s is a Collectfast/Collectfasta setting; staticship honours it." % old,
            hint="Rename it to %s." % new,
            id="staticship.W005",
        )
        for old, new in conf.legacy_in_use()
    ]
    messages += [
        Info(
            "%s is a Collectfast/Collectfasta setting that staticship ignores: %s." % (old, why),
            hint="Remove %s." % old,
            id="staticship.I001",
        )
        for old, why in conf.ignored_legacy_in_use()
    ]
    return messages


# -- settings of the wrong type --------------------------------------------
POSITIVE_INTS = ("WORKERS", "MAX_ATTEMPTS", "PRUNE_KEEP")
BOOLS = ("ENABLED", "FAST_TRANSFER")


@register(Tags.staticfiles)
def check_setting_types(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name in POSITIVE_INTS:
        value = conf.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            messages.append(
                Error(
                    "%s must be a positive integer, not %r." % (conf.source(name), value),
                    hint="The default is %d." % conf.DEFAULTS[name],
                    id="staticship.E001",
                )
            )
    for name in BOOLS:
        value = conf.get(name)
        if not isinstance(value, bool):
            messages.append(
                Error(
                    "%s must be True or False, not %r." % (conf.source(name), value),
                    hint="A string such as 'false' counts as true in Python.",
                    id="staticship.E002",
                )
            )
    min_age = conf.get("PRUNE_MIN_AGE")
    if isinstance(min_age, bool) or not isinstance(min_age, (int, float)) or not min_age >= 0:
        messages.append(
            Error(
                "STATICSHIP_PRUNE_MIN_AGE must be a number of seconds (0 or more), not %r."
                % (min_age,),
                hint="The default is %d (an hour)." % conf.DEFAULTS["PRUNE_MIN_AGE"],
                id="staticship.E001",
            )
        )
    state_name = conf.get("STATE_NAME")
    if not isinstance(state_name, str) or not state_name.strip("/") or state_name.startswith("/"):
        messages.append(
            Error(
                "STATICSHIP_STATE_NAME must be a non-empty relative path, not %r." % (state_name,),
                hint="The default is %r." % conf.DEFAULTS["STATE_NAME"],
                id="staticship.E004",
            )
        )
    adapter_class, problem = _explicit_adapter()
    if problem:
        messages.append(
            Error(
                problem,
                hint="Give the dotted path of a staticship.backends.base.Adapter subclass, "
                "or remove STATICSHIP_ADAPTER to let staticship detect it.",
                id="staticship.E003",
            )
        )
    return messages


def _explicit_adapter() -> tuple[type | None, str | None]:
    """(the class named by STATICSHIP_ADAPTER, None) or (None, what is wrong)."""
    from .backends import load

    path = conf.get("ADAPTER")
    if path is None:
        return None, None
    if not isinstance(path, str) or not path:
        return None, "STATICSHIP_ADAPTER must be a dotted path or None, not %r." % (path,)
    try:
        return load(path), None
    except ImportError as exc:
        return None, "STATICSHIP_ADAPTER %r cannot be imported: %s." % (path, exc)
    except TypeError:
        return None, "STATICSHIP_ADAPTER %r is not a staticship adapter class." % path


# -- the adapter for the configured storage ---------------------------------
@register(Tags.staticfiles)
def check_adapter_fits(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if conf.get("ENABLED") is not True:
        return []
    storage = _configured_storage()
    if storage is None:
        return []
    from .backends import detect
    from .backends.generic import GenericAdapter

    backend = settings.STORAGES["staticfiles"]["BACKEND"]
    explicit, problem = _explicit_adapter()
    if problem:
        return []  # E003 already says so
    if explicit is not None:
        if explicit.handles(storage):  # type: ignore[attr-defined]
            return []
        return [
            Error(
                "STATICSHIP_ADAPTER %s (%s) does not handle the staticfiles storage %s."
                % (conf.get("ADAPTER"), explicit.label, backend),  # type: ignore[attr-defined]
                hint="Remove STATICSHIP_ADAPTER to let staticship detect the adapter, "
                "or name one whose handles() accepts this storage.",
                id="staticship.E005",
            )
        ]
    detected = detect(storage)
    if issubclass(detected, GenericAdapter):
        return [
            Warning(
                "No staticship adapter supports the staticfiles storage %s; staticship "
                "uses its %r adapter, which works through the storage's own API and "
                "keeps a state record to prove content, so it is slower than a "
                "dedicated adapter." % (backend, detected.label),
                hint="If the storage talks to S3, GCS or Azure, install the matching "
                "extra (django-staticship[s3], [gcs] or [azure]); otherwise set "
                "STATICSHIP_ADAPTER, or silence this check with SILENCED_SYSTEM_CHECKS.",
                id="staticship.W002",
            )
        ]
    return []


def _configured_storage() -> Storage | None:
    """The staticfiles storage, built without network access (a manifest
    storage would otherwise read its remote manifest); None if it cannot be
    built (Django's own checks and collectstatic report that)."""
    from .runner import configured_class, configured_options, is_manifest_storage_class

    cls = configured_class()
    if cls is None:
        return None
    options = configured_options()
    if is_manifest_storage_class(cls) and "manifest_storage" not in options:
        options["manifest_storage"] = InMemoryStorage()
    try:
        return cls(**options)  # type: ignore[no-any-return]
    except Exception:
        return None
