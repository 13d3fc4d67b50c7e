#!/usr/bin/env bash
# cargo-lambda for the local stack's `cargo lambda watch`: version 1.9.2 from crates.io (its own
# Cargo.lock, --locked), with one fix to its runtime API (cargo-lambda/read-answer-first.patch):
# it acknowledged a function's answer before reading it, and about one answer of 50 KB in a
# hundred was lost on the way (cargo lambda answered its own bare 500 instead). `make dev` and
# `make test` run this once; `cargo lambda build` (sam build) stays the PyPI wheel's.
#
#   infra/local/install-cargo-lambda.sh DEST     (the binary: DEST/bin/cargo-lambda)
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=1.9.2
# crates.io's cargo-lambda-watch-1.9.2.crate, the source the patch is made against.
WATCH_SHA256=c14077d1584cca88979883bfd13daa8bbeb38dd9f69938099fbf3ee71b6d3af9
PATCH="$PWD/infra/local/cargo-lambda/read-answer-first.patch"
dest=$(realpath -m "${1:?usage: install-cargo-lambda.sh DEST}")

work=$(mktemp -d "${TMPDIR:-/tmp}/cargo-lambda-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 -o "$work/watch.crate" \
  "https://static.crates.io/crates/cargo-lambda-watch/cargo-lambda-watch-$VERSION.crate"
echo "$WATCH_SHA256  $work/watch.crate" | sha256sum --check --quiet
tar -xzf "$work/watch.crate" -C "$work"
source="$work/cargo-lambda-watch-$VERSION"
(cd "$source" && git apply --verbose "$PATCH")

# Unoptimised (about a third of a release build's time; it serves a local stack as well), without
# debug info, and without debug assertions: clap checks its argument definitions under them and
# panics on one of cargo-lambda's own (`tls_cert` conflicts with a `remote` that `watch` lacks).
CARGO_INCREMENTAL=0 cargo install cargo-lambda --version "=$VERSION" --locked --debug --force \
  --root "$dest" --target-dir "$work/target" \
  --config "patch.crates-io.cargo-lambda-watch.path=\"$source\"" \
  --config profile.dev.debug-assertions=false --config profile.dev.debug=false
"$dest/bin/cargo-lambda" lambda --version
