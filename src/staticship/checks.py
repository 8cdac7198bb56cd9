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
from django.core.files.storage import Storage

from . import conf


@register(Tags.staticfiles)
def check_app_order(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A user who listed staticship meant to use it: with the app after
    ``django.contrib.staticfiles`` the stock command would run instead and
    re-upload everything, so this stops ``collectstatic``."""
    apps = list(settings.INSTALLED_APPS)
    names = [a.split(".apps.")[0] for a in apps]
    if "staticship" in names and "django.contrib.staticfiles" in names:
        if names.index("staticship") > names.index("django.contrib.staticfiles"):
            if conf.get("ENABLED") is False:
                return []
            return [
                Error(
                    "'staticship' is listed after 'django.contrib.staticfiles' in "
                    "INSTALLED_APPS, so Django's stock collectstatic command would run "
                    "instead of staticship's.",
                    hint="Move 'staticship' before 'django.contrib.staticfiles' in "
                    "INSTALLED_APPS (or set STATICSHIP_ENABLED = False to use the stock "
                    "command on purpose).",
                    id="staticship.E007",
                )
            ]
    return []


@register(Tags.staticfiles)
def check_unknown_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    import difflib

    messages: list[CheckMessage] = []
    valid = sorted(conf.DEFAULTS)
    for name in conf.unknown_settings():
        # Matched without the shared prefix, which would make every name close.
        close = difflib.get_close_matches(name[len("STATICSHIP_"):], valid, n=1, cutoff=0.6)
        hint = ("Did you mean STATICSHIP_%s?" % close[0]) if close else (
            "Valid names: %s." % ", ".join("STATICSHIP_" + v for v in valid))
        messages.append(
            Warning(
                "%s is not a staticship setting; it is ignored." % name,
                hint=hint,
                id="staticship.W006",
            )
        )
    return messages


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
BOOLS = ("ENABLED", "FAST_TRANSFER", "PUBLISH_ORIGINALS")
OPTIONAL_STRINGS = ("HASHED_CACHE_CONTROL", "CLOUDFRONT_DISTRIBUTION")


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
    return messages + _path_and_age_errors() + _optional_string_errors() + _adapter_errors()


def _optional_string_errors() -> list[CheckMessage]:
    return [
        Error(
            "STATICSHIP_%s must be None or a non-empty string, not %r." % (name, value),
            hint="The default is None (off).",
            id="staticship.E009",
        )
        for name in OPTIONAL_STRINGS
        if (value := conf.get(name)) is not None and (not isinstance(value, str) or not value.strip())
    ]


def _path_and_age_errors() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
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
    return messages


def _adapter_errors() -> list[CheckMessage]:
    _adapter_class, problem = _explicit_adapter()
    if not problem:
        return []
    return [
        Error(
            problem,
            hint="Give the dotted path of a staticship.backends.base.Adapter subclass, "
            "or remove STATICSHIP_ADAPTER to let staticship detect it.",
            id="staticship.E003",
        )
    ]


@register(Tags.staticfiles)
def check_state_folder(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Everything in the state record's folder counts as staticship's own
    (never uploaded, never pruned as a user file), and so does the record's
    own name. Django's default ignore patterns skip ``.*`` at any depth, so
    no user file lives in a hidden folder."""
    state_name = conf.get("STATE_NAME")
    if not isinstance(state_name, str) or not state_name.strip("/") or state_name.startswith("/"):
        return []  # E004 says so
    folder, _, filename = state_name.rpartition("/")
    if any(_hidden(part) for part in (folder.split("/") if folder else [filename])):
        return []
    shadowed = "every file under '%s/'" % folder if folder else "a file named '%s'" % filename
    return [
        Error(
            "STATICSHIP_STATE_NAME %r is not in a hidden folder: %s would count as "
            "staticship's own and never be uploaded or pruned." % (state_name, shadowed),
            hint="Put it in a folder whose name starts with '.', which collectstatic ignores "
            "(the default is %r)." % conf.DEFAULTS["STATE_NAME"],
            id="staticship.E008",
        )
    ]


def _hidden(part: str) -> bool:
    return part.startswith(".") and part not in (".", "..")


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
    missing = _fast_path_missing(detected) or _fast_path_blocked(detected, storage)
    if missing:
        return [missing]
    if issubclass(detected, GenericAdapter):
        return [
            Warning(
                "No staticship adapter supports the staticfiles storage %s, so "
                "collectstatic runs Django's own command for it." % backend,
                hint="If the storage talks to S3, GCS or Azure, install the matching "
                "extra (django-staticship[s3], [gcs] or [azure]). To upload every file in "
                "parallel on every run instead (no content to compare), set "
                "STATICSHIP_ADAPTER = 'staticship.backends.generic.GenericAdapter'. Or "
                "silence this check with SILENCED_SYSTEM_CHECKS.",
                id="staticship.W002",
            )
        ]
    return []


def _fast_path_missing(adapter: type) -> CheckMessage | None:
    """W007: the S3, GCS and Azure adapters upload through obstore; without
    it every file goes through the storage's Python client, several times
    slower."""
    if getattr(adapter, "label", "") not in ("s3", "gcs", "azure"):
        return None
    if conf.get("FAST_TRANSFER") is not True:
        return None
    import importlib.util

    if importlib.util.find_spec("obstore") is not None:
        return None
    return Warning(
        "obstore is not installed, so staticship uploads through slower means than "
        "its fast path (S3: plain HTTP requests and boto3; GCS and Azure: the storage's "
        "own Python client).",
        hint="Install it (pip install obstore: django-staticship depends on it, so "
        "something removed it), or set STATICSHIP_FAST_TRANSFER = False.",
        id="staticship.W007",
    )


def _fast_path_blocked(adapter: type, storage: Storage) -> CheckMessage | None:
    """W010: obstore is there but the storage's settings keep it from
    writing (a class that writes its own way, proxies, a CA bundle file...);
    what a client or a request would tell (credentials) is said by the run."""
    from .backends.cloud import CloudAdapter

    if not issubclass(adapter, CloudAdapter) or conf.get("FAST_TRANSFER") is not True:
        return None
    try:
        off = adapter.blocked(storage)
    except Exception:  # noqa: BLE001 - a storage the run itself will report on
        return None
    if off is None:
        return None
    return Warning(
        "obstore cannot write for the staticfiles storage, so uploads take staticship's "
        "slower path: %s." % off.reason,
        hint="Fix: %s. Or silence this check with SILENCED_SYSTEM_CHECKS." % off.fix,
        id="staticship.W010",
    )


@register(Tags.staticfiles)
def check_hashed_cache_control(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """I002: a manifest storage on S3, GCS or Azure that sets no
    Cache-Control at all could let browsers keep its hashed names for a year."""
    from django.contrib.staticfiles.storage import ManifestFilesMixin

    from . import immutable

    if conf.get("HASHED_CACHE_CONTROL") is not None or not conf.get("ENABLED"):
        return []
    storage = _configured_storage()
    if not isinstance(storage, ManifestFilesMixin):
        return []
    if immutable.storage_cache_control(storage) is not False:
        return []
    return [
        Info(
            "The manifest storage sets no Cache-Control, so browsers and CDNs guess how "
            "long to keep its content-hashed files, whose bytes never change.",
            hint='Set STATICSHIP_HASHED_CACHE_CONTROL = "%s" (hashed names only; give the '
            "other files a short max-age in the storage's own settings)." % immutable.RECOMMENDED,
            id="staticship.I002",
        )
    ]


@register(Tags.staticfiles)
def check_publish_originals(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """W011: STATICSHIP_PUBLISH_ORIGINALS = False does nothing for a storage
    without a manifest (its files have no hashed copies)."""
    from django.contrib.staticfiles.storage import ManifestFilesMixin

    from .runner import configured_class

    if conf.get("PUBLISH_ORIGINALS") is not False or conf.get("ENABLED") is not True:
        return []
    cls = configured_class()
    if cls is None or issubclass(cls, ManifestFilesMixin):
        return []
    return [
        Warning(
            "STATICSHIP_PUBLISH_ORIGINALS = False does nothing for the staticfiles storage %s: "
            "it keeps no manifest, so its files have no hashed copies and are published under "
            "their own names." % settings.STORAGES["staticfiles"]["BACKEND"],
            hint="Remove the setting, or use a manifest storage (S3ManifestStaticStorage, "
            "staticship.storages.GoogleCloudManifestStorage or AzureManifestStorage).",
            id="staticship.W011",
        )
    ]


def _configured_storage() -> Storage | None:
    """The staticfiles storage, built without network access (a manifest
    storage would otherwise read its remote manifest); None if it cannot be
    built (Django's own checks and collectstatic report that)."""
    from .runner import configured_class, configured_options, without_remote_manifest

    cls = configured_class()
    if cls is None:
        return None
    options = configured_options()
    try:
        storage = without_remote_manifest(cls, options)
        return storage if storage is not None else cls(**options)
    except Exception:
        return None
