#!/bin/sh
# The peer's own virtual environment, benchmarks/peer/.venv: django-viewflow 2.4 on Django 5.2 from PyPI.
# Run once before `python benchmarks/run.py --only peer` (make bench runs it); `make test` never needs it.
set -eu
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
test -x .venv/bin/python || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade 'pip>=25.1'
.venv/bin/python -m pip install --quiet 'django-viewflow==2.4.*' 'Django==5.2.*' 'psycopg[binary]==3.*' 'waitress==3.*'
.venv/bin/python -c 'from importlib.metadata import version as v; \
print("peer venv ready: django-viewflow", v("django-viewflow"), "on Django", v("Django"))'
