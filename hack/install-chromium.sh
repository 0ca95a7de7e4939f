#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the browser tests in
# test/browser when it is missing. `make test` runs it first; it is a no-op
# when /usr/bin/chromium (or $VIGIL_TEST_CHROMIUM) already exists.
set -euo pipefail

chromium="${VIGIL_TEST_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: $chromium is missing and this is not a Debian-like system;" >&2
  echo "install Chromium with your package manager or set VIGIL_TEST_CHROMIUM" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

echo "install-chromium: installing chromium (needed by test/browser)" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium >/dev/null
"$chromium" --version
