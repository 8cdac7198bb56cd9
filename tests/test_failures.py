"""Errors are classified by the codes the clients give (HTTP status, the
store's error code, OS error numbers), not by words in their messages: each
case here is a real error raised by a real client against a loopback socket
that refuses, drops or never answers."""

from __future__ import annotations

import datetime
import errno
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from staticship.backends.errors import Failure, classify


@contextmanager
def server(behaviour: str) -> Iterator[int]:
    """A loopback port that refuses ("refuse"), accepts and resets
    ("reset"), or accepts and never answers ("silent")."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if behaviour == "refuse":
        listener.close()
        yield port
        return
    listener.listen(16)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            if behaviour == "reset":
                conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                conn.close()  # linger 0: the peer sees a reset
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def boto3_error(port: int) -> BaseException:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url="http://127.0.0.1:%d" % port, aws_access_key_id="a",
        aws_secret_access_key="b", region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, read_timeout=0.5, connect_timeout=0.5))
    with pytest.raises(Exception) as caught:
        client.list_objects_v2(Bucket="b")
    return caught.value


def obstore_error(port: int) -> BaseException:
    import obstore
    from obstore.store import S3Store

    store = S3Store("b", endpoint="http://127.0.0.1:%d" % port, access_key_id="a",
                    secret_access_key="b", region="us-east-1",
                    client_options={"allow_http": True, "timeout": "500ms"},
                    retry_config={"max_retries": 0, "backoff": {},
                                  "retry_timeout": datetime.timedelta(seconds=1)})
    with pytest.raises(Exception) as caught:
        obstore.put(store, "k", b"x")
    return caught.value


def requests_error(port: int) -> BaseException:
    import requests

    with pytest.raises(Exception) as caught:
        requests.get("http://127.0.0.1:%d/" % port, timeout=0.5)
    return caught.value


def azure_error(port: int) -> BaseException:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient(
        "http://127.0.0.1:%d/devstoreaccount1" % port, retry_total=0, connection_timeout=0.5,
        read_timeout=0.5)
    with pytest.raises(Exception) as caught:
        list(client.get_container_client("c").list_blobs())
    return caught.value


CLIENTS: dict[str, Callable[[int], BaseException]] = {
    "boto3": boto3_error, "obstore": obstore_error, "requests": requests_error,
    "azure": azure_error,
}


@pytest.mark.parametrize("client", list(CLIENTS))
def test_a_refused_connection_is_unreachable_and_never_retried(client: str) -> None:
    with server("refuse") as port:
        exc = CLIENTS[client](port)
    failure = Failure.of(exc)
    assert failure.status is None
    assert errno.ECONNREFUSED in failure.errnos
    assert failure.refused and failure.unreachable and not failure.lost
    assert classify(exc, "k", "key", "x", also=True).transient is False


@pytest.mark.parametrize("behaviour", ["reset", "silent"])
@pytest.mark.parametrize("client", list(CLIENTS))
def test_a_broken_or_silent_connection_is_lost_and_retried(client: str, behaviour: str) -> None:
    with server(behaviour) as port:
        exc = CLIENTS[client](port)
    failure = Failure.of(exc)
    assert failure.status is None and not failure.refused
    assert failure.lost and failure.unreachable, (failure, exc)
    assert classify(exc, "k", "key", "x").transient is True


def test_statuses_and_codes_come_from_the_clients_attributes() -> None:
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"},
                          "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObject")
    assert Failure.of(denied) == Failure(403, "AccessDenied", frozenset(), frozenset())
    assert classify(denied, "k", "key", "x").transient is False
    slow = ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce"},
                        "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
    assert classify(slow, "k", "key", "x").transient is True
    # A message that merely mentions a retryable status is not one.
    worded = ClientError({"Error": {"Code": "InvalidArgument", "Message": "status 503, timed out"},
                          "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutObject")
    assert classify(worded, "k", "key", str(worded)).transient is False
    from google.api_core.exceptions import TooManyRequests

    assert Failure.of(TooManyRequests("slow down")).status == 429
    from azure.core.exceptions import HttpResponseError

    busy = HttpResponseError("busy")
    busy.status_code, busy.error_code = 503, "ServerBusy"
    assert (Failure.of(busy).status, Failure.of(busy).code) == (503, "ServerBusy")
