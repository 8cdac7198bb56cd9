"""Local storage emulators (moto, fake-gcs-server, Azurite, and s3rver as a
second S3) behind a counting, fault-injecting reverse proxy, for staticship's
tests and benchmarks.

Run ``python -m testbed --help``; tests talk to it through :mod:`testbed.client`.
"""

SERVICES: tuple[str, ...] = ("s3", "gcs", "azure", "s3b")
# The protocol each service speaks (how the proxy names operations and shapes errors).
PROTOCOL: dict[str, str] = {"s3": "s3", "gcs": "gcs", "azure": "azure", "s3b": "s3"}
CONTROL_PREFIX = "/_testbed"
