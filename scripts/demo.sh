#!/usr/bin/env bash
# The main job end to end on the bundled Countries-MM graph, with a locally started Neo4j.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$(bash "$root/scripts/env.sh")
cd "$root"
exec "$venv/bin/vlkge-graph" demo "$@"
