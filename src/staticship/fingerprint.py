"""Content fingerprints: what an object store's listing shows for given bytes.

Pure functions over bytes and files; no Django, no network.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import threading
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

BLOCK = 1024 * 1024
MIB = 1024 * 1024

# S3's limits on multipart uploads, which boto3's transfer manager respects.
S3_MIN_PART = 5 * MIB
S3_MAX_PART = 5 * 1024 * MIB
S3_MAX_PARTS = 10_000


def iter_blocks(fileobj: BinaryIO, block: int = BLOCK) -> Iterator[bytes]:
    while True:
        data = fileobj.read(block)
        if not data:
            return
        yield data


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_of_file(fileobj: BinaryIO) -> tuple[str, int]:
    """(hex MD5, size) of everything left in ``fileobj``."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    for data in iter_blocks(fileobj):
        digest.update(data)
        size += len(data)
    return digest.hexdigest(), size


_memo: dict[tuple[int, int, int, int], tuple[str, int]] = {}
_memo_lock = threading.Lock()


def forget() -> None:
    """Drop every remembered MD5 (a run starts with none: a long-lived
    process must not carry them from one run to the next)."""
    with _memo_lock:
        _memo.clear()


def md5_of_path(path: str) -> tuple[str, int]:
    """(hex MD5, size) of the file at ``path``, computed once per run for a
    given file: the same bytes are fingerprinted for the inputs, for Django's
    hashed names and for the upload plan. Keyed by the file's identity (device,
    inode, following links), size and modification time. Callers only pass
    files that are not rewritten during the run (sources, finished staging)."""
    stat = os.stat(path)
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _memo_lock:
        known = _memo.get(key)
    if known is not None:
        return known
    with open(path, "rb") as handle:
        result = md5_of_file(handle)
    with _memo_lock:
        _memo[key] = result
    return result


def hashers() -> int:
    """Threads for the hash phase: one per CPU this process may run on, at
    most 8. Reading and hashing small files takes the GIL between blocks, so
    threads beyond the CPUs only contend for it: on 2 CPUs, hashing 10,000
    files (548 MB) took 1.13 s on 2 threads and 1.51 s on 8, for 20% more CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def s3_part_size(size: int, chunk_size: int) -> int:
    """The part size boto3's transfer manager uses for ``size`` bytes.

    It keeps the configured chunk size unless that would break S3's limits
    (at least 5 MiB a part, at most 10,000 parts).
    """
    part = min(max(chunk_size, S3_MIN_PART), S3_MAX_PART)
    if size > part * S3_MAX_PARTS:
        part = math.ceil(size / S3_MAX_PARTS)
    return part


def s3_multipart_etag(fileobj: BinaryIO, part_size: int) -> str:
    """The ETag S3 gives an object uploaded in parts of ``part_size`` bytes:
    the MD5 of the concatenated binary MD5s of the parts, then ``-<parts>``."""
    digests = []
    while True:
        part = hashlib.md5(usedforsecurity=False)
        left = part_size
        while left:
            data = fileobj.read(min(BLOCK, left))
            if not data:
                break
            part.update(data)
            left -= len(data)
        if left == part_size:
            break
        digests.append(part.digest())
        if left:
            break
    if not digests:  # an empty body still makes one (empty) part
        digests.append(hashlib.md5(b"", usedforsecurity=False).digest())
    return "%s-%d" % (md5_hex(b"".join(digests)), len(digests))


def parts_in_etag(etag: str) -> int | None:
    """The part count of a multipart ETag (``<hex>-<n>``), else None."""
    head, sep, tail = etag.rpartition("-")
    if not sep or not tail.isdigit() or len(head) != 32:
        return None
    return int(tail)


def candidate_part_sizes(size: int, parts: int, preferred: Iterable[int]) -> list[int]:
    """Part sizes that split ``size`` bytes into exactly ``parts`` parts.

    Tries the configured sizes first, then the common defaults of other
    tools (5, 8, 16, 64 MiB ...), then the MiB-rounded size implied by the
    count. A match proves equality, so trying several is safe.
    """
    ordered: list[int] = []
    guesses = [*preferred, 8 * MIB, 5 * MIB, 16 * MIB, 10 * MIB, 15 * MIB, 32 * MIB,
               64 * MIB, 100 * MIB, 128 * MIB]
    if parts > 0:
        guesses.append(math.ceil(size / parts / MIB) * MIB)
    for part in guesses:
        if part > 0 and part not in ordered and math.ceil(size / part) == parts:
            ordered.append(part)
    return ordered


def normalize_etag(etag: str | None) -> str | None:
    if etag is None:
        return None
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"').lower() or None


def b64_md5_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def crc32c_b64(fileobj: BinaryIO) -> str | None:
    """Base64 of the big-endian CRC32C (GCS's ``crc32c``), if a CRC32C
    implementation is installed (google-crc32c), else None."""
    try:
        import google_crc32c
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    checksum: Any = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
    for data in iter_blocks(fileobj):
        checksum.update(data)
    return base64.b64encode(checksum.digest()).decode()


def gzip_stream(fileobj: BinaryIO, out: BinaryIO, level: int = 9) -> None:
    """Compress as django-storages does on upload: a zlib stream with a gzip
    wrapper (``wbits=31``) at ``level``; the header carries no name or mtime."""
    compressor = zlib.compressobj(level=level, wbits=31)
    for data in iter_blocks(fileobj):
        out.write(compressor.compress(data))
    out.write(compressor.flush(zlib.Z_FINISH))
