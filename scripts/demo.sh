#!/usr/bin/env bash
# The main job end to end on the bundled Countries-MM graph, with a locally started Neo4j.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$(bash "$root/scripts/env.sh")
cd "$root"
bash "$root/scripts/build-plugin.sh" --skip-tests >&2   # the vlkge.* procedures for the demo's server
exec "$venv/bin/vlkge-graph" demo "$@"
