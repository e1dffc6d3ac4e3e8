# audio-edition — two commands do all the set-up:
#   make demo   builds the bundled sample articles (examples/) into output/ (MP3, transcripts, feed, player)
#   make test   runs the test suite (installs what it needs first: .venv, Debian chromium, npm axe-core)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test demo install browser-deps clean bench

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

# The player's tests drive a real browser: Debian's chromium (never a browser download) and axe-core from npm.
browser-deps: node_modules/axe-core/axe.min.js
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser tests need Debian chromium: sudo apt-get install chromium"; fi; }

node_modules/axe-core/axe.min.js: package.json
	npm install --no-audit --no-fund --silent
	touch $@

test: install browser-deps
	$(BIN)/python -m pytest

demo: install
	$(BIN)/audio-edition build examples/ --out output

bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf output/episodes output/feed.xml output/player output/cover.* output/.store*
