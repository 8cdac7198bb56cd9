"""Every staticship system check (docs/checks.md), fired and not fired."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from storages.backends.s3 import S3Storage

S3 = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "b", "endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1",
                    "access_key": "testing", "secret_key": "testing"},
    },
}
MEMORY = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
}
LOCAL = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
                    "OPTIONS": {"location": "/nonexistent/staticship-checks"}},
}


def ids(**settings: Any) -> list[str]:
    """The staticship check ids raised under ``settings``."""
    settings.setdefault("STORAGES", S3)
    with override_settings(**settings):
        found = checks.run_checks(tags=[checks.Tags.staticfiles])
    return sorted(m.id for m in found if m.id and m.id.startswith("staticship."))


def messages(**settings: Any) -> list[checks.CheckMessage]:
    settings.setdefault("STORAGES", S3)
    with override_settings(**settings):
        return [m for m in checks.run_checks(tags=[checks.Tags.staticfiles])
                if m.id and m.id.startswith("staticship.")]


def test_clean_configurations_raise_nothing() -> None:
    assert ids() == []
    assert ids(STORAGES=LOCAL) == []  # filesystem adapter; the manifest is not read
    assert ids(STATICSHIP_WORKERS=8, STATICSHIP_ENABLED=False, STATICSHIP_MAX_ATTEMPTS=1,
               STATICSHIP_FAST_TRANSFER=False, STATICSHIP_STATE_NAME=".x/state.json") == []
    assert ids(STATICSHIP_ADAPTER="staticship.backends.s3.S3Adapter") == []


def test_e007_app_order_stops_collectstatic() -> None:
    [message] = messages(INSTALLED_APPS=["django.contrib.staticfiles", "staticship"])
    assert message.id == "staticship.E007" and message.level == checks.ERROR
    assert message.msg == (
        "'staticship' is listed after 'django.contrib.staticfiles' in INSTALLED_APPS, so "
        "Django's stock collectstatic command would run instead of staticship's.")
    assert message.hint is not None and message.hint.startswith(
        "Move 'staticship' before 'django.contrib.staticfiles' in INSTALLED_APPS")
    assert ids(INSTALLED_APPS=["staticship.apps.StaticshipConfig", "django.contrib.staticfiles"]) == []
    # Stock on purpose: nothing to say.
    assert ids(INSTALLED_APPS=["django.contrib.staticfiles", "staticship"],
               STATICSHIP_ENABLED=False) == []


@pytest.mark.parametrize(
    "name, hint",
    [
        ("STATICSHIP_ENABLE", "Did you mean STATICSHIP_ENABLED?"),
        ("STATICSHIP_WORKER", "Did you mean STATICSHIP_WORKERS?"),
        ("STATICSHIP_PRUNEKEEP", "Did you mean STATICSHIP_PRUNE_KEEP?"),
    ],
)
def test_w006_misspelled_settings_are_named(name: str, hint: str) -> None:
    [message] = messages(**{name: 8})
    assert message.id == "staticship.W006" and message.level == checks.WARNING
    assert message.msg == "%s is not a staticship setting; it is ignored." % name
    assert message.hint == hint


def test_w006_unrelated_name_lists_the_valid_ones() -> None:
    [message] = messages(STATICSHIP_XYZZY=1)
    assert message.hint is not None and message.hint.startswith("Valid names: ")
    assert "STATICSHIP_WORKERS" in message.hint


def test_w007_missing_obstore_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "obstore" else real(name, *a))
    [message] = messages()
    assert message.id == "staticship.W007"
    assert "obstore is not installed" in message.msg
    assert ids(STATICSHIP_FAST_TRANSFER=False) == []
    assert ids(STORAGES=LOCAL) == []  # local destinations never use it


def test_w002_generic_fallback_is_named() -> None:
    [message] = messages(STORAGES=MEMORY)
    assert message.id == "staticship.W002"
    assert message.level == checks.WARNING
    assert "django.core.files.storage.InMemoryStorage" in message.msg
    assert "collectstatic runs Django's own command for it" in message.msg
    # Not when staticship is off, nor when the user chose the adapter.
    assert ids(STORAGES=MEMORY, STATICSHIP_ENABLED=False) == []
    assert ids(STORAGES=MEMORY, STATICSHIP_ADAPTER="staticship.backends.generic.GenericAdapter") == []


def test_w005_legacy_names_are_honoured_and_named() -> None:
    [message] = messages(COLLECTFAST_ENABLED=True)
    assert (message.id, message.hint) == ("staticship.W005", "Rename it to STATICSHIP_ENABLED.")


@pytest.mark.parametrize("name", ["COLLECTFASTA_THREADS", "COLLECTFAST_THREADS"])
def test_i001_peer_thread_count_is_not_carried_over(name: str) -> None:
    """A Collectfasta thread count (tuned to boto3's cost) would cap the fast
    uploads: it is ignored, and the check says so."""
    [message] = messages(**{name: 20})
    assert message.id == "staticship.I001"
    assert "boto3" in message.msg and "STATICSHIP_WORKERS" in message.msg
    with override_settings(**{name: 20}):
        from staticship import conf

        assert conf.get("WORKERS") == 64


@pytest.mark.parametrize("name", ["COLLECTFASTA_STRATEGY", "COLLECTFAST_STRATEGY"])
def test_i001_strategy_is_ignored(name: str) -> None:
    [message] = messages(**{name: "collectfasta.strategies.boto3.Boto3Strategy"})
    assert message.id == "staticship.I001"
    assert message.level == checks.INFO
    assert "ignores" in message.msg and "detects the backend" in message.msg


@pytest.mark.parametrize(
    "settings, culprit",
    [
        ({"STATICSHIP_WORKERS": 0}, "STATICSHIP_WORKERS"),
        ({"STATICSHIP_WORKERS": "32"}, "STATICSHIP_WORKERS"),
        ({"STATICSHIP_WORKERS": True}, "STATICSHIP_WORKERS"),
        ({"STATICSHIP_MAX_ATTEMPTS": -1}, "STATICSHIP_MAX_ATTEMPTS"),
    ],
)
def test_e001_positive_ints(settings: dict[str, Any], culprit: str) -> None:
    found = messages(**settings)
    errors = [m for m in found if m.id == "staticship.E001"]
    assert len(errors) == 1 and errors[0].msg.startswith(culprit + " must be a positive integer")
    assert errors[0].level == checks.ERROR


@pytest.mark.parametrize("value", [-1, "60", True, None, float("nan")])
def test_e001_prune_min_age(value: Any) -> None:
    errors = [m for m in messages(STATICSHIP_PRUNE_MIN_AGE=value) if m.id == "staticship.E001"]
    assert len(errors) == 1
    assert errors[0].msg.startswith("STATICSHIP_PRUNE_MIN_AGE must be a number of seconds")


@pytest.mark.parametrize("value", [0, 60, 0.5])
def test_prune_min_age_accepted(value: Any) -> None:
    assert not [m for m in messages(STATICSHIP_PRUNE_MIN_AGE=value) if m.id == "staticship.E001"]


@pytest.mark.parametrize(
    "settings, culprit",
    [
        ({"STATICSHIP_ENABLED": "false"}, "STATICSHIP_ENABLED"),
        ({"STATICSHIP_FAST_TRANSFER": 1}, "STATICSHIP_FAST_TRANSFER"),
        ({"COLLECTFASTA_ENABLED": "0"}, "COLLECTFASTA_ENABLED"),
    ],
)
def test_e002_bools(settings: dict[str, Any], culprit: str) -> None:
    errors = [m for m in messages(**settings) if m.id == "staticship.E002"]
    assert len(errors) == 1 and errors[0].msg.startswith(culprit + " must be True or False")


@pytest.mark.parametrize(
    "value, text",
    [
        ("staticship.backends.nowhere.Adapter", "cannot be imported"),
        ("staticship.conf.get", "is not a staticship adapter class"),
        ("staticship.plan.Plan", "is not a staticship adapter class"),
        (42, "must be a dotted path"),
    ],
)
def test_e003_adapter_setting(value: Any, text: str) -> None:
    found = messages(STATICSHIP_ADAPTER=value)
    assert [m.id for m in found] == ["staticship.E003"]  # and no E005 on top
    assert text in found[0].msg


@pytest.mark.parametrize("value", ["", "/abs/state.json", 7])
def test_e004_state_name(value: Any) -> None:
    assert ids(STATICSHIP_STATE_NAME=value) == ["staticship.E004"]


@pytest.mark.parametrize("value", ["css/state.json", "state.json", "./css/state.json",
                                   "../x/state.json", "css/.state.json"])
def test_e008_state_record_outside_a_hidden_folder(value: str) -> None:
    """A state record in a user folder makes every file there staticship's
    own (never uploaded, never pruned)."""
    [message] = messages(STATICSHIP_STATE_NAME=value)
    assert message.id == "staticship.E008"
    assert repr(value) in message.msg and "never be uploaded or pruned" in message.msg
    folder = value.rpartition("/")[0]
    assert ("every file under '%s/'" % folder if folder else "a file named 'state.json'") in message.msg
    assert message.hint and "starts with '.'" in message.hint


@pytest.mark.parametrize("value", [".staticship/state.json", ".deploy/x/s.json", ".state.json",
                                   "a/.b/state.json"])
def test_e008_not_raised_for_hidden_folders(value: str) -> None:
    assert ids(STATICSHIP_STATE_NAME=value) == []


def test_e005_explicit_adapter_must_handle_the_storage() -> None:
    [message] = messages(STORAGES=MEMORY, STATICSHIP_ADAPTER="staticship.backends.s3.S3Adapter")
    assert message.id == "staticship.E005"
    assert "InMemoryStorage" in message.msg and "(s3)" in message.msg


def test_errors_stop_collectstatic_before_it_starts() -> None:
    with override_settings(STORAGES=MEMORY, STATICSHIP_WORKERS="many"):
        with pytest.raises(SystemCheckError, match="staticship.E001"):
            call_command("collectstatic", "--noinput", "-v", "0", skip_checks=False)



class OwnSaveS3(S3Storage):
    def _save(self, name: str, content: Any) -> str:
        return str(super()._save(name, content))


def _s3(backend: str = "storages.backends.s3.S3Storage", **options: Any) -> dict[str, Any]:
    return {**S3, "staticfiles": {"BACKEND": backend,
                                  "OPTIONS": {**S3["staticfiles"]["OPTIONS"], **options}}}


@pytest.mark.parametrize("storages, reason, fix", [
    (_s3("%s.OwnSaveS3" % __name__), "OwnSaveS3 overrides _save, so staticship writes through it",
     "none if that override must run; if it only sets object parameters or headers, move them "
     "into the storage's settings and remove the override"),
    (_s3(proxies={"https": "http://127.0.0.1:3128"}),
     "the S3 client config sets proxies, which obstore does not take",
     'remove the proxies (STORAGES["staticfiles"]["OPTIONS"]["proxies"]) if the endpoint can be '
     "reached without them"),
    (_s3(verify="/etc/ssl/bundle.pem"), "verify names a CA bundle file, which obstore does not take",
     'set STORAGES["staticfiles"]["OPTIONS"]["verify"] to True if the system trusts the '
     "endpoint's certificate"),
])
def test_w010_storage_settings_that_keep_obstore_off(storages: dict[str, Any], reason: str,
                                                     fix: str) -> None:
    [message] = messages(STORAGES=storages)
    assert message.id == "staticship.W010" and message.level == checks.WARNING
    assert message.msg == ("obstore cannot write for the staticfiles storage, so uploads take "
                           "staticship's slower path: %s." % reason)
    assert message.hint == "Fix: %s. Or silence this check with SILENCED_SYSTEM_CHECKS." % fix
    assert ids(STORAGES=storages, STATICSHIP_FAST_TRANSFER=False) == []
