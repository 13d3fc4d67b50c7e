# The front door. `make dev` runs the whole system locally; `make test` runs every check CI runs.
# Everything needed is installed here from pinned files: Rust toolchain aside, nothing by hand.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0

.PHONY: dev test build bench bench-local sign venv browser clean

$(STAMP): infra/local/requirements.txt
	@command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required: https://rustup.rs"; exit 1; }
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r infra/local/requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# checkov (the template's security scan) pins libraries the tools above need newer: its own venv.
CHECKOV_STAMP := .venv-checkov/.installed
$(CHECKOV_STAMP): infra/local/requirements-checkov.txt
	test -x .venv-checkov/bin/python || python3 -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r infra/local/requirements-checkov.txt
	touch $(CHECKOV_STAMP)

# cargo-lambda 1.9.2 with the local stack's one fix to `cargo lambda watch` (a function's answer is read
# whole before it is acknowledged; see the script). Unoptimised, once, into the venv.
CARGO_LAMBDA := $(VENV)/cargo-lambda/bin/cargo-lambda
$(CARGO_LAMBDA): infra/local/install-cargo-lambda.sh infra/local/cargo-lambda/read-answer-first.patch | $(STAMP)
	infra/local/install-cargo-lambda.sh $(VENV)/cargo-lambda

## Debian's chromium for the control center's browser tests (root or sudo; once).
browser:
	infra/local/install-browser.sh

## Local stack: moto + template resources + cargo lambda watch + SQS pump. Ctrl-C stops it.
dev: $(STAMP) $(CARGO_LAMBDA)
	$(PY) infra/local/stack.py

## fmt, clippy, unit + emulator integration tests, cfn-lint, sam validate, checkov, end-to-end (browser included).
test: $(STAMP) $(CHECKOV_STAMP) $(CARGO_LAMBDA) browser
	infra/local/run-tests.sh

## sam build: arm64 bootstraps via cargo lambda (zig from the venv), offline.
build: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 $(VENV)/bin/sam build --beta-features

## Criterion benches plus the Python retell-sdk comparison (figures: docs/performance.md).
bench: $(STAMP)
	cargo bench -p retell-shared --bench webhook_ingest
	$(PY) benches/python_sdk_verify.py

## Sustained load on the local stack: 10,200 signed webhooks, then a check that each call is stored once.
bench-local: $(STAMP) $(CARGO_LAMBDA)
	$(PY) benches/local_stack_load.py

## A signature for BODY with $$RETELL_API_KEY (or the local dev key), by the official SDK.
sign: $(STAMP)
	@$(PY) infra/local/sign.py '$(BODY)'

clean:
	rm -rf .aws-sam target/lambda
