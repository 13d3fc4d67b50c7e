#!/usr/bin/env bash
# `make test`: a private AWS emulator on a free port, then every check, failing on the first.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=.venv
port=$($VENV/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
state=$(mktemp -d "${TMPDIR:-/tmp}/retell-test.XXXXXX")
$VENV/bin/python infra/local/aws_emulator.py -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
moto_pid=$!
cleanup() { kill "$moto_pid" 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=eu-central-1 AWS_DEFAULT_REGION=eu-central-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export SAM_CLI_TELEMETRY=0
# One clean build, never edited: incremental state would only take disk (it was gigabytes).
export CARGO_INCREMENTAL=0

step() { printf '\n== %s\n' "$*"; }
step "cargo fmt --check";            cargo fmt --all --check
step "cargo clippy -D warnings";     cargo clippy --workspace --all-targets -- -D warnings
step "cargo test (emulator $AWS_ENDPOINT_URL)"; cargo test --workspace
step "cfn-lint template.yaml";       $VENV/bin/cfn-lint template.yaml
step "sam validate --lint";          $VENV/bin/sam validate --lint --template template.yaml
# Every finding fixed or suppressed in the template with its reason (Metadata: checkov: skip).
step "checkov template.yaml";        .venv-checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --quiet --compact
step "end-to-end over HTTP (local stack)"
env -u AWS_ENDPOINT_URL $VENV/bin/python -m pytest -q -p no:cacheprovider tests/e2e
