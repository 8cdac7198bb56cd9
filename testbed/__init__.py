"""Local storage emulators (moto, fake-gcs-server, Azurite) behind a counting,
fault-injecting reverse proxy, for staticship's tests and benchmarks.

Run ``python -m testbed --help``; tests talk to it through :mod:`testbed.client`.
"""

SERVICES: tuple[str, ...] = ("s3", "gcs", "azure")
CONTROL_PREFIX = "/_testbed"
