#!/usr/bin/env bash
# Headless Chromium for the run report's browser test (tests/test_sync.py): Debian's chromium package, installed
# where it is missing and this runs as root with apt-get. Never fails: without a browser it says why, and the
# browser test skips with that reason.
set -uo pipefail
for name in chromium chromium-browser google-chrome; do
  command -v "$name" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "browser.sh: no chromium, and installing it needs root and apt-get: the report's browser test will skip" >&2
  exit 0
fi
echo "browser.sh: installing Debian's chromium for the report's browser test (once, about 30 s)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q chromium >/dev/null 2>&1; then
  apt-get update -q >/dev/null 2>&1
  apt-get install -y -q chromium >/dev/null 2>&1 ||
    echo "browser.sh: apt-get install chromium failed: the report's browser test will skip" >&2
fi
exit 0
