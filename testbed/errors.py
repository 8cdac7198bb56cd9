"""Error responses in each service's own format, for injected faults."""

from __future__ import annotations

import json
import uuid
from email.utils import formatdate
from xml.sax.saxutils import escape

# What each kind of fault means, for the error body.
THROTTLE = "throttle"
TRANSIENT = "transient"
FAIL_WRITES = "fail_writes"

_S3_CODES = {
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    409: ("OperationAborted", "A conflicting conditional operation is in progress."),
    412: ("PreconditionFailed", "At least one of the preconditions you specified did not hold."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("ServiceUnavailable", "Service is unable to handle request."),
}
_S3_SLOWDOWN = ("SlowDown", "Please reduce your request rate.")

_GCS_REASONS = {
    400: "invalid",
    401: "required",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "internalError",
    503: "backendError",
}

_AZURE_CODES = {
    400: ("InvalidInput", "One of the request inputs is not valid."),
    403: (
        "AuthorizationPermissionMismatch",
        "This request is not authorized to perform this operation using this permission.",
    ),
    404: ("BlobNotFound", "The specified blob does not exist."),
    409: ("LeaseIdMissing", "There is currently a lease on the blob and no lease ID was specified."),
    412: ("ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met."),
    500: ("InternalError", "The server encountered an internal error. Please retry the request."),
    503: ("ServerBusy", "The server is currently unable to receive requests. Please retry your request."),
}


def error_response(service: str, status: int, kind: str, code: str = "",
                   message: str = "") -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of an injected error, shaped like the real service's;
    ``code`` and ``message`` (S3) reproduce a particular refusal."""
    request_id = uuid.uuid4().hex
    if service == "s3":
        return _s3_error(status, kind, request_id, code, message)
    if service == "gcs":
        return _gcs_error(status, kind)
    return _azure_error(status, kind, request_id)


def _s3_error(status: int, kind: str, request_id: str, code: str = "",
              message: str = "") -> tuple[list[tuple[str, str]], bytes]:
    if code:
        pass
    elif kind == THROTTLE:
        code, message = _S3_SLOWDOWN
    else:
        code, message = _S3_CODES.get(status, _fallback(status, "InternalError", "InvalidRequest"))
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{request_id[:16].upper()}</RequestId><HostId>testbed</HostId></Error>"
    ).encode()
    headers = [
        ("Content-Type", "application/xml"),
        ("x-amz-request-id", request_id[:16].upper()),
        ("x-amz-id-2", "testbed"),
    ]
    return headers, body


def _gcs_error(status: int, kind: str) -> tuple[list[tuple[str, str]], bytes]:
    reason = "rateLimitExceeded" if kind == THROTTLE else _GCS_REASONS.get(status, "backendError")
    message = f"testbed injected {kind} fault ({status} {reason})"
    payload = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }
    return [("Content-Type", "application/json; charset=UTF-8")], json.dumps(payload).encode()


def _azure_error(status: int, kind: str, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
    if kind == THROTTLE:
        code, message = _AZURE_CODES[503]
    else:
        code, message = _AZURE_CODES.get(status, _fallback(status, "InternalError", "InvalidInput"))
    rid = str(uuid.UUID(request_id))
    text = f"{message}\nRequestId:{rid}\nTime:{formatdate(usegmt=True)}"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{escape(text)}</Message></Error>"
    ).encode()
    headers = [
        ("Content-Type", "application/xml"),
        ("x-ms-error-code", code),
        ("x-ms-request-id", rid),
        ("x-ms-version", "2021-10-04"),
    ]
    return headers, body


def _fallback(status: int, server: str, client: str) -> tuple[str, str]:
    code = server if status >= 500 else client
    return code, f"testbed injected error {status}"
