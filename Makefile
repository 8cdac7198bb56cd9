# staticship: the two commands a new machine needs are `make demo` and `make test`.
SHELL := /bin/bash
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
# The oldest supported Python and Django, and the newest.
PY_OLD ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.10*/bin/python3) $(shell command -v python3.10) python3)
PY_NEW ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3) $(wildcard $(PYENV_ROOT)/versions/3.12*/bin/python3) $(shell command -v python3.13) $(shell command -v python3.12))
DJANGO_OLD ?= Django>=5.2,<5.3
DJANGO_NEW ?= Django>=6.1,<6.2
VENV_OLD := .venv
VENV_NEW := .venv-django6
PYTEST_ARGS ?=
export AWS_EC2_METADATA_DISABLED := true
export NO_GCE_CHECK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: test test-old lint django-suite venv demo bench bench-quick clean

$(VENV_OLD)/.installed: pyproject.toml requirements/test.txt
	@echo "== Creating $(VENV_OLD) ($(notdir $(PY_OLD)), Django 5.2) and installing staticship with its test tools: about a minute, once"
	$(PY_OLD) -m venv $(VENV_OLD)
	$(VENV_OLD)/bin/pip install -q -e '.[s3,gcs,azure]' -r requirements/test.txt '$(DJANGO_OLD)'
	touch $@

$(VENV_NEW)/.installed: pyproject.toml requirements/test.txt
	@test -n "$(PY_NEW)" || { echo "Python 3.12+ is needed for Django 6 (set PY_NEW=/path/to/python3.12)"; exit 1; }
	@echo "== Creating $(VENV_NEW) ($(notdir $(PY_NEW)), Django 6.1): about a minute, once"
	$(PY_NEW) -m venv $(VENV_NEW)
	$(VENV_NEW)/bin/pip install -q -e '.[s3,gcs,azure]' -r requirements/test.txt '$(DJANGO_NEW)'
	touch $@

node_modules/.installed: package.json
	@echo "== Installing Azurite (Azure Blob) and s3rver (a second S3 server) with npm, once"
	npm install --no-audit --no-fund --silent
	touch $@

venv: $(VENV_OLD)/.installed $(VENV_NEW)/.installed node_modules/.installed

# Runs Django's own staticfiles tests with staticship installed (make
# django-suite; DJANGO_SUITE=0 skips them), then starts the emulators (moto's
# S3, s3rver, fake-gcs-server, Azurite) on free loopback ports, runs the suite
# on the oldest and the newest Django, and stops them.
DJANGO_SUITE ?= 1
test: venv
	@$(MAKE) --no-print-directory lint
	@if [ "$(DJANGO_SUITE)" = 1 ]; then $(MAKE) --no-print-directory django-suite; fi
	$(VENV_OLD)/bin/python -m testbed run --all -- bash -c '\
	  set -e; \
	  echo "== Django 5.2 ($(notdir $(PY_OLD)))"; $(VENV_OLD)/bin/python -m pytest $(PYTEST_ARGS); \
	  echo "== Django 6.1"; $(VENV_NEW)/bin/python -m pytest $(PYTEST_ARGS)'

test-old: $(VENV_OLD)/.installed node_modules/.installed
	@$(MAKE) --no-print-directory lint
	$(VENV_OLD)/bin/python -m testbed run --all -- $(VENV_OLD)/bin/python -m pytest $(PYTEST_ARGS)

# ruff (pyflakes, pycodestyle, bugbear) over the repository and mypy --strict
# over src/staticship, both configured in pyproject.toml; a finding fails.
lint: $(VENV_OLD)/.installed
	$(VENV_OLD)/bin/python -m ruff check .
	$(VENV_OLD)/bin/python -m mypy

# Django's own tests/staticfiles_tests, with "staticship" first in its
# INSTALLED_APPS, on both Djangos (scripts/django_suite.py: the source
# distribution comes from the package registry, cached in .cache/django-src/).
DJANGO_SUITE_ARGS ?=
django-suite: $(VENV_OLD)/.installed $(VENV_NEW)/.installed
	@status=0; \
	$(VENV_OLD)/bin/python scripts/django_suite.py $(DJANGO_SUITE_ARGS) || status=1; \
	$(VENV_NEW)/bin/python scripts/django_suite.py $(DJANGO_SUITE_ARGS) || status=1; \
	exit $$status

clean:
	rm -rf $(VENV_OLD) $(VENV_NEW) node_modules .pytest_cache

# The main job on an embedded default: a local S3 emulator (20 ms a request)
# and the example project, stock against staticship, cold and warm.
DEMO_ARGS ?= --stock-budget 12
demo: $(VENV_OLD)/.installed
	$(VENV_OLD)/bin/python scripts/demo.py $(DEMO_ARGS)

# Benchmarks: stock collectstatic, Collectfasta and staticship side by side on
# the bench's own in-memory S3 server, and on fake-gcs-server and Azurite behind
# the test bed's proxy (20 ms a request); writes docs/benchmarks.*
VENV_BENCH := .venv-bench
$(VENV_BENCH)/.installed: pyproject.toml bench/requirements.txt
	@test -n "$(PY_NEW)" || { echo "Python 3.12+ is needed (set PY_NEW=/path/to/python3.12)"; exit 1; }
	$(PY_NEW) -m venv $(VENV_BENCH)
	$(VENV_BENCH)/bin/pip install -q -e '.[s3,gcs,azure]' -r bench/requirements.txt '$(DJANGO_NEW)'
	touch $@

# The same install without obstore, for the "staticship, no obstore" rows (issue #13).
VENV_BENCH_PLAIN := .venv-bench-plain
$(VENV_BENCH_PLAIN)/.installed: pyproject.toml bench/requirements.txt
	@test -n "$(PY_NEW)" || { echo "Python 3.12+ is needed (set PY_NEW=/path/to/python3.12)"; exit 1; }
	$(PY_NEW) -m venv $(VENV_BENCH_PLAIN)
	$(VENV_BENCH_PLAIN)/bin/pip install -q -e '.[s3,gcs,azure]' -r bench/requirements.txt '$(DJANGO_NEW)'
	$(VENV_BENCH_PLAIN)/bin/pip uninstall -y -q obstore
	touch $@

bench: $(VENV_BENCH)/.installed $(VENV_BENCH_PLAIN)/.installed node_modules/.installed
	$(VENV_BENCH)/bin/python -m bench.run --full --latency-ms 20 --out docs/ \
	  --plain-python $(VENV_BENCH_PLAIN)/bin/python
	$(VENV_BENCH)/bin/python -m bench.postprocess --files 1000 3000 --runs 3 --out docs/

bench-quick: $(VENV_BENCH)/.installed
	$(VENV_BENCH)/bin/python -m bench.run --quick --out docs/
