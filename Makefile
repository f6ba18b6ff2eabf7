# The two commands a new machine needs: `make run` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Front-end packages from npm (package-lock.json), copied where the web app serves them; never from a CDN.
VENDOR := web/static/vendor/.installed
# The editors' page scripts (web/frontend/pages/*.js) bundled with esbuild into web/static/build/.
BUILD := web/static/build/.built
FRONTEND := $(shell find web/frontend -type f -not -path '*/node_modules/*' 2>/dev/null)
CATALOGS := $(patsubst %.po,%.mo,$(wildcard web/translations/*/LC_MESSAGES/messages.po))

.PHONY: setup run init test lint bench clean chromium translations

setup: $(STAMP) $(VENDOR) $(BUILD) $(CATALOGS)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --editable . --group test
	touch $(STAMP)

$(VENDOR): package.json package-lock.json
	npm ci --no-audit --no-fund
	rm -rf web/static/vendor && mkdir -p web/static/vendor/bpmn-js
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js web/static/vendor/bpmn-js/
	cp -r node_modules/bpmn-js/dist/assets/. web/static/vendor/bpmn-js/
	touch $(VENDOR)

$(BUILD): $(VENDOR) $(FRONTEND)
	npm run --silent build
	touch $(BUILD)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@

# The browser tests drive Debian's Chromium (and need CJK fonts); install them when missing and we may.
chromium:
	@{ test -x /usr/bin/chromium && fc-list :lang=zh | grep -q .; } || { test "$$(id -u)" = 0 && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; } || \
		echo "Chromium is missing and cannot be installed here: the browser tests will be skipped"

# After changing a message in web/: extract, merge into both catalogues, then translate the new entries.
translations: setup
	$(BIN)/pybabel extract -F web/babel.cfg --no-location --omit-header -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations --width 120 --ignore-obsolete --no-fuzzy-matching

init: setup
	$(BIN)/kaohe init

# The web app on the SQLite database in var/, with demo campaigns; prints the URL and the demo accounts.
run: setup
	$(BIN)/kaohe serve --demo --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check .

test: lint chromium
	$(BIN)/pytest

# The peer benchmark (django-viewflow) runs in a venv of its own, made here and never by `make test`.
PEER := benchmarks/peer/.venv/.installed

$(PEER): benchmarks/peer/setup.sh
	sh benchmarks/peer/setup.sh
	touch $(PEER)

bench: setup $(PEER)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) benchmarks/peer/.venv var node_modules web/static/vendor web/static/build $(CATALOGS)
