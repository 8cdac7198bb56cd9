"""The S3 fast path: obstore's S3Store configured from the S3Storage, so that
the objects equal those ``S3Storage._save`` writes (same key, headers, ACL,
metadata, encryption), for every write parameter it maps onto."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import fingerprint as fp
from ..plan import RemoteState
from . import ranges
from .base import Prepared
from .cloud import timestamp
from .errors import configured_as
from .fast import ObstoreWriter, Off, client_options, unavailable

# Write parameters (boto3 ExtraArgs) the fast path maps onto obstore, and how.
_ATTRIBUTES = {
    "ContentType": "Content-Type",
    "ContentEncoding": "Content-Encoding",
    "CacheControl": "Cache-Control",
    "ContentDisposition": "Content-Disposition",
    "ContentLanguage": "Content-Language",
    "StorageClass": "Storage-Class",
}
_HEADERS = {
    "ACL": "x-amz-acl",
    "GrantRead": "x-amz-grant-read",
    "GrantReadACP": "x-amz-grant-read-acp",
    "GrantWriteACP": "x-amz-grant-write-acp",
    "GrantFullControl": "x-amz-grant-full-control",
    "WebsiteRedirectLocation": "x-amz-website-redirect-location",
}
_ENCRYPTION = {
    "ServerSideEncryption": "server_side_encryption",
    "SSEKMSKeyId": "sse_kms_key_id",
    "BucketKeyEnabled": "sse_bucket_key_enabled",
}
_FAST_PARAMS = {*_ATTRIBUTES, *_HEADERS, *_ENCRYPTION, "Metadata", "Expires", "Tagging"}


class _ObstoreWriter(ObstoreWriter):
    """Writes objects with obstore, configured from the S3Storage so that the
    objects equal those ``S3Storage._save`` writes. One store per distinct set
    of per-request headers (ACL, grants) and encryption settings."""

    def __init__(self, base: dict[str, Any], client_options: dict[str, Any],
                 credentials: Any, workers: int) -> None:
        super().__init__()
        self.base = base
        self.client_options = client_options
        self.credentials = credentials
        self.workers = workers

    @staticmethod
    def blocked(storage: Any, serves: str) -> Off | None:
        return blocked(storage, serves)

    @classmethod
    def build(cls, storage: Any, workers: int) -> _ObstoreWriter | Off:
        """A writer for ``storage``, or why there is none: obstore is missing
        or the storage is set up in a way obstore cannot reproduce (then
        uploads go through boto3, or the storage's own ``_save``)."""
        config = storage.client_config
        session = storage._create_session()  # cheaper than a client
        credentials = _credentials(storage, session)
        if credentials is None:
            return Off("boto3 finds no S3 credentials to give obstore",
                       "set %s and %s (or the AWS_* environment variables)"
                       % (configured_as("access_key", "AWS_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
                          configured_as("secret_key", "AWS_S3_SECRET_ACCESS_KEY",
                                        "AWS_SECRET_ACCESS_KEY")))
        endpoint = storage.endpoint_url
        options = client_options(
            workers, endpoint or "",
            connect_timeout="%ds" % int(getattr(config, "connect_timeout", 60) or 60))
        if storage.verify is False:
            options["allow_invalid_certificates"] = True
        return cls(base_config(storage, session, config), options, credentials, workers)

    def why_not(self, params: Mapping[str, Any], multipart: bool) -> Off | None:
        """None when obstore writes an object with these ExtraArgs as the
        storage would (in one request, or in parts when ``multipart``); else
        why not, naming the parameter."""
        unknown = sorted(set(params) - _FAST_PARAMS)
        if unknown:
            return Off("obstore has no equivalent of the write parameter %s" % unknown[0],
                       "none needed (those objects are written with it through boto3); remove "
                       "it from %s if it is not needed"
                       % configured_as("object_parameters", "AWS_S3_OBJECT_PARAMETERS"))
        # Per-request headers would also go on every part of a multipart
        # upload; leave those few large files to boto3.
        header = next((p for p in (*_HEADERS, "Expires") if p in params), None)
        if multipart and header:
            return Off("obstore would send %s on every part of a multipart upload" % header,
                       "none needed (files at or above the multipart threshold are written "
                       "through boto3)")
        return None

    def store(self, headers: dict[str, str], encryption: dict[str, Any]) -> Any:
        """The store that sends these per-request headers and encryption settings."""
        key = (tuple(sorted(headers.items())), tuple(sorted(encryption.items())))
        return self.cached(key, lambda: self._make_store(headers, encryption))

    def _make_store(self, headers: dict[str, str], encryption: dict[str, Any]) -> Any:
        from obstore.store import S3Store

        options = dict(self.client_options)
        if headers:
            options["default_headers"] = headers
        config = {**self.base, **encryption}
        kwargs: dict[str, Any] = {"config": config, "client_options": options}
        if isinstance(self.credentials, dict):
            config["access_key_id"] = self.credentials["access_key_id"]
            config["secret_access_key"] = self.credentials["secret_access_key"]
            if self.credentials.get("token"):
                config["session_token"] = self.credentials["token"]
        else:
            kwargs["credential_provider"] = self.credentials
        # Retries happen one level up, where concurrency adapts to them.
        kwargs["retry_config"] = {"max_retries": 0}
        bucket = config.pop("bucket")
        return S3Store(bucket, **kwargs)

    def list_range(self, prefix: str, bounds: ranges.Range) -> ranges.Listed:
        """One range of the listing under ``prefix``: the same pages as
        boto3's, parsed in Rust (boto3 spends 0.1 s of CPU per 1,000 entries)."""
        import obstore

        states: list[RemoteState] = []
        seen = 0
        stream = obstore.list(self.store({}, {}), prefix.rstrip("/") or None,
                              offset=bounds[0], chunk_size=1000)
        for batch in stream:
            seen += len(batch)
            if ranges.clip((RemoteState(
                    fp.normalize_etag(entry.get("e_tag")), entry.get("size"), key=entry["path"],
                    modified=timestamp(entry.get("last_modified"))) for entry in batch),
                    bounds, states):
                return states, -(-seen // 1000)  # S3 pages hold 1,000
        return states, max(1, -(-seen // 1000))

    def put(self, key: str, item: Prepared, multipart: bool, part_size: int) -> str | None:
        import obstore

        attributes: dict[str, str] = {}
        headers: dict[str, str] = {}
        encryption: dict[str, Any] = {}
        tags: dict[str, str] | None = None
        for name, value in item.params.items():
            if name in _ATTRIBUTES:
                attributes[_ATTRIBUTES[name]] = str(value)
            elif name in _HEADERS:
                headers[_HEADERS[name]] = str(value)
            elif name in _ENCRYPTION:
                encryption[_ENCRYPTION[name]] = value
            elif name == "Metadata":
                attributes.update({str(k): str(v) for k, v in value.items()})
            elif name == "Expires":
                headers["Expires"] = _http_date(value)
            elif name == "Tagging":
                from urllib.parse import parse_qsl

                tags = dict(parse_qsl(str(value), keep_blank_values=True))
        store = self.store(headers, encryption)
        with item.body() as body:
            if multipart:
                result = obstore.put(store, key, body, attributes=attributes, tags=tags,
                                     use_multipart=True, chunk_size=part_size, max_concurrency=4)
            else:
                result = obstore.put(store, key, body.read(), attributes=attributes, tags=tags,
                                     use_multipart=False)
        return fp.normalize_etag(result.get("e_tag"))


def _http_date(value: Any) -> str:
    from datetime import datetime

    from django.utils.http import http_date

    if isinstance(value, datetime):
        return str(http_date(value.timestamp()))
    return str(value)


def base_config(storage: Any, session: Any, config: Any) -> dict[str, Any]:
    """S3Store's configuration: bucket, region, endpoint and addressing style as boto3 uses them."""
    base: dict[str, Any] = {
        "bucket": storage.bucket_name,
        "region": storage.region_name or session.region_name or "us-east-1",
    }
    style = storage.addressing_style or (getattr(config, "s3", None) or {}).get("addressing_style")
    endpoint = storage.endpoint_url
    if endpoint:
        base["endpoint"] = endpoint.rstrip("/")
        base["virtual_hosted_style_request"] = style == "virtual"
    else:
        base["virtual_hosted_style_request"] = style != "path" and "." not in storage.bucket_name
    return base


def blocked(storage: Any, serves: str) -> Off | None:
    """Why obstore cannot write for ``storage``, as far as its settings
    tell without any request (the system check asks this too)."""
    off = unavailable(storage, serves, "_compress_content") or unreachable(storage)
    if off is not None:
        return off
    if isinstance(storage.verify, str):
        return Off("verify names a CA bundle file, which obstore does not take",
                   "set %s to True if the system trusts the endpoint's certificate"
                   % configured_as("verify", "AWS_S3_VERIFY"))
    return None


def unreachable(storage: Any) -> Off | None:
    """Why a client other than boto3 cannot reach the bucket: proxies, or
    plain HTTP to AWS."""
    if getattr(storage.client_config, "proxies", None):
        where = (configured_as("proxies", "AWS_S3_PROXIES") if storage.proxies
                 else configured_as("client_config", "AWS_S3_CLIENT_CONFIG"))
        return Off("the S3 client config sets proxies, which obstore does not take",
                   "remove the proxies (%s) if the endpoint can be reached without them" % where)
    if not storage.use_ssl and not storage.endpoint_url:
        return Off("use_ssl is False without an endpoint URL",
                   "set %s to the endpoint's http:// URL, or use_ssl to True"
                   % configured_as("endpoint_url", "AWS_S3_ENDPOINT_URL"))
    return None


def _credentials(storage: Any, session: Any) -> Any:
    """The storage's keys, else the session's credential chain; None without credentials."""
    if storage.access_key and storage.secret_key:
        return {
            "access_key_id": storage.access_key,
            "secret_access_key": storage.secret_key,
            "token": storage.security_token or None,
            "expires_at": None,
        }
    if session.get_credentials() is None:
        return None
    from obstore.auth.boto3 import Boto3CredentialProvider

    return Boto3CredentialProvider(session)
