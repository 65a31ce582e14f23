# angzarr-testkit: every target creates the virtual environments it needs.
PYTHON ?= python3
VENV := .venv
VENV_CLIENT := .venv-client
VENV_NEWEST := .venv-newest
STAMP := .installed

.PHONY: demo test test-bundled test-client test-newest proto lint bench clean browser-deps

# .venv: bundled wire mode, dev tools (protobuf 5.29 because grpcio-tools pins it).
$(VENV)/$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# .venv-client: angzarr-client 0.3.1 installed, so the kit runs on the SDK's generated classes.
$(VENV_CLIENT)/$(STAMP): pyproject.toml
	test -x $(VENV_CLIENT)/bin/python || $(PYTHON) -m venv $(VENV_CLIENT)
	$(VENV_CLIENT)/bin/pip install -q --upgrade pip
	$(VENV_CLIENT)/bin/pip install -q -e '.[dev,client]' 'angzarr-client==0.3.1'
	touch $@

# .venv-newest: bundled mode on the newest protobuf runtime (no grpcio-tools to hold it back).
$(VENV_NEWEST)/$(STAMP): pyproject.toml
	test -x $(VENV_NEWEST)/bin/python || $(PYTHON) -m venv $(VENV_NEWEST)
	$(VENV_NEWEST)/bin/pip install -q --upgrade pip
	$(VENV_NEWEST)/bin/pip install -q -e '.[rabbitmq,grpc,test]' --upgrade --upgrade-strategy eager
	touch $@

demo: $(VENV)/$(STAMP)
	$(VENV)/bin/python -m angzarr_testkit.demo

# The broker-mode tests talk to a real RabbitMQ on loopback: a private node the suite starts
# itself (own name, ports and data directory; never a broker already running, e.g. on 5672),
# exported as ANGZARR_TESTKIT_AMQP_URL, and stopped by the trap whatever the outcome. A broker
# that cannot be installed or started stops the run here, with the reason.
test:
	$(MAKE) lint
	@state="$$(scripts/rabbitmq start)" || { echo "make test: stopped: the suite's RabbitMQ broker is not available (reason above)" >&2; exit 1; }; \
	trap 'scripts/rabbitmq stop "$$state"' EXIT; trap 'exit 130' INT TERM HUP; \
	ANGZARR_TESTKIT_AMQP_URL="$$(sed -n 's/^ANGZARR_TESTKIT_AMQP_URL=//p' "$$state/env")"; \
	export ANGZARR_TESTKIT_AMQP_URL; echo "make test: ANGZARR_TESTKIT_AMQP_URL=$$ANGZARR_TESTKIT_AMQP_URL"; \
	$(MAKE) test-bundled test-client test-newest

# Headless Chromium for the HTML report's browser test (a Debian package; needs root).
browser-deps:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# Each run: pytest, then behave on features/. scripts/run-suite fails on any failure and
# turns "no tests collected" into a failure of its own rather than a silent pass.
test-bundled: $(VENV)/$(STAMP) browser-deps
	ANGZARR_TESTKIT_WIRE=bundled scripts/run-suite $(VENV)

# The example project is written with the angzarr-client SDK, so it runs in this mode.
test-client: browser-deps $(VENV_CLIENT)/$(STAMP)
	ANGZARR_TESTKIT_WIRE=angzarr_client scripts/run-suite $(VENV_CLIENT)
	ANGZARR_TESTKIT_WIRE=angzarr_client scripts/run-suite $(VENV_CLIENT) examples/order_fulfillment

test-newest: browser-deps $(VENV_NEWEST)/$(STAMP)
	ANGZARR_TESTKIT_WIRE=bundled ANGZARR_TESTKIT_PROTOC_PYTHON=$(CURDIR)/$(VENV)/bin/python scripts/run-suite $(VENV_NEWEST)

proto: $(VENV)/$(STAMP)
	$(VENV)/bin/python scripts/genproto.py

# Style, then the seams: no private names across modules and no module over 500 lines
# (scripts/check_private_imports.py), the import contracts in pyproject.toml (layers only
# import downwards, no cycles; lint-imports). docs/architecture.md explains the rules.
lint: $(VENV)/$(STAMP)
	$(VENV)/bin/ruff check angzarr_testkit tests scripts benchmarks examples features
	$(VENV)/bin/ruff format --check angzarr_testkit tests scripts benchmarks examples features
	$(VENV)/bin/python scripts/check_private_imports.py
	$(VENV)/bin/lint-imports

bench: $(VENV)/$(STAMP)
	$(VENV)/bin/python -m benchmarks

clean:
	rm -rf $(VENV) $(VENV_CLIENT) $(VENV_NEWEST) build *.egg-info .pytest_cache
