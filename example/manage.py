#!/usr/bin/env python
"""The staticship example project: ``python example/manage.py collectstatic``.

See example/README.md for the environment variables that point it at the
demo's emulator or at your own S3, GCS or Azure bucket.
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    # A checkout without `pip install -e .` still finds staticship.
    sys.path.insert(1, str(here.parent / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    os.environ.setdefault("NO_GCE_CHECK", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
