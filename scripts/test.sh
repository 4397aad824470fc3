#!/usr/bin/env bash
# Lint, then the test suite against a real Neo4j (NEO4J_URI if set, else a server the tests start).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$(bash "$root/scripts/env.sh")
cd "$root"
"$venv/bin/ruff" check .
bash "$root/scripts/build-plugin.sh"   # the vlkge.* plugin with its JUnit tests; Neo4j loads it at start
bash "$root/scripts/browser.sh"        # headless Chromium for the report's browser test (skipped, saying why, without)
exec "$venv/bin/python" -m pytest "$@"
