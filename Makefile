# Two commands do all set-up: `make run` starts the platform, `make test` runs the suite.
# Both create .venv on first use with nothing but Python 3.11+ and pip from PyPI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat constraints.txt */*/pyproject.toml pyproject.toml | cksum | cut -d' ' -f1)
MEMBERS := -e libs/common[test] -e services/curriculum -e services/enrolment \
           -e services/certification -e services/webhooks \
           -e services/portal[browser] -e libs/platform

.PHONY: run test lint venv clean bench event-docs messages
.DEFAULT_GOAL := test

venv: $(STAMP)

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt $(MEMBERS)
	@rm -f $(VENV)/.installed-*
	@touch $@

## Start nats-server, the sign-in provider, the services and the portal (Ctrl-C stops all).
run: venv
	$(BIN)/wps-platform run

## Run the whole test suite (PostgreSQL variants skip with a reason when no server is reachable).
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Regenerate docs/events (JSON Schemas, AsyncAPI, catalogue) from the payload models.
event-docs: venv
	$(BIN)/wps-event-docs

## Portal translations: extract the strings and update the ru/kk catalogues (then translate the
## new empty msgstr entries in services/portal/src/wps_portal/locale/*/LC_MESSAGES/messages.po).
messages: venv
	cd services/portal && ../../$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location \
	  --sort-output -o messages.pot . && \
	  ../../$(BIN)/pybabel update -i messages.pot -d src/wps_portal/locale --no-fuzzy-matching --width 100 \
	  --ignore-obsolete && rm messages.pot

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## Print the performance figures (each script says what it measures).
bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var
