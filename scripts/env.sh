#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and print its path on stdout.
# The environment is keyed by a hash of pyproject's dependency lists, so an unchanged dependency set is
# installed once per machine; a fresh machine builds it from nothing (about 3 GB, mostly torch).
# Needs: python3 >= 3.11; at run time Java 17 + Maven (the local Neo4j) and npm (WordNet texts).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
hash=$("$py" -c '
import hashlib, sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))["project"]
print(hashlib.sha256(repr((p["dependencies"], p.get("optional-dependencies"))).encode()).hexdigest()[:16])
' "$root/pyproject.toml")
cache=${VLKGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vlkge-graph}
venv=$cache/venvs/$hash
for tool in java mvn npm; do
  command -v "$tool" >/dev/null || echo "warning: '$tool' not found; install it (see README, Requirements)" >&2
done
if [ ! -f "$venv/.complete" ]; then
  echo "creating virtual environment $venv (first run only; downloads torch, a few minutes)" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q -e "$root[dev]" >&2
  touch "$venv/.complete"
else
  # Same dependencies: only point the editable install at this checkout.
  "$venv/bin/pip" install -q --no-deps -e "$root" >&2
fi
echo "$venv"
