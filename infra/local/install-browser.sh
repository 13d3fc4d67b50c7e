#!/usr/bin/env bash
# The browser of the control center's end-to-end tests: Debian's chromium (Playwright drives it;
# it never downloads a browser of its own). Installed once, pinned to the version the tests were
# written against; if Debian's mirror has moved on, the current version is installed and named.
set -euo pipefail
PINNED="156.0.8078.129-1~deb12u1"
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "chromium is missing and this user cannot install packages (need root or sudo): apt-get install chromium"; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if ! $SUDO apt-get install -y -qq --no-install-recommends "chromium=$PINNED" >/dev/null; then
  echo "install-browser: chromium $PINNED is not on the mirror any more; installing its current version" >&2
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
/usr/bin/chromium --version
