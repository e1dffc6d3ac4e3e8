# audio-edition — two commands do all the set-up:
#   make demo   builds the bundled sample articles (examples/) into output/ (MP3, transcripts, feed, player)
#   make test   runs the test suite (installs what it needs first: .venv, Debian chromium, firefox-esr, pulseaudio and
#               redis-server, npm axe-core and puppeteer-core)
# For maintainers: make lint (ruff + mypy), make test-fast (the edit-test loop: tests not marked slow).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test test-fast lint demo install test-deps clean bench

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $@

install: $(BIN)/.installed

# System tools the tests drive for real, from Debian (never a browser download): chromium for the player's and the
# site's tests, firefox-esr as their second engine (driven by puppeteer-core over WebDriver BiDi) with pulseaudio
# as its null sound output, redis-server for the distributed workers' tests, mediainfo to read our MP3s as a third party; axe-core and puppeteer-core come from
# npm (package.json), with PUPPETEER_SKIP_DOWNLOAD so that nothing downloads a browser.
DEBIAN_TEST_TOOLS := chromium firefox-esr pulseaudio redis-server mediainfo
test-deps: node_modules/.installed
	@missing=""; for t in $(DEBIAN_TEST_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "some tests need Debian packages:$$missing (sudo apt-get install$$missing)"; fi; fi

node_modules/.installed: package.json package-lock.json
	PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --silent
	touch $@

test: install test-deps
	$(BIN)/python -m pytest

test-fast: install test-deps
	$(BIN)/python -m pytest -m "not slow" -x -q

lint: install
	$(BIN)/ruff check audio_edition tests bench
	$(BIN)/mypy

# The Le Monde-like sample is cut by a paywall: --allow-partial builds it as an excerpt, and says so.
demo: install
	$(BIN)/audio-edition build examples/ --out output --allow-partial
	@echo "The show's site: $(BIN)/audio-edition serve output, then open http://127.0.0.1:8000/"

bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf output/episodes output/feed.xml output/player output/cover.* output/.audio-edition
