#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and print its path on stdout.
# The environment is keyed by a hash of pyproject's dependency lists, so an unchanged dependency set is
# installed once per machine; a fresh machine builds it from nothing (about 6.5 GB, mostly torch and its CUDA libraries).
# Environments of other dependency lists unused for VLKGE_VENV_KEEP_DAYS days (14) are removed.
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
# pip runs quietly into a log: on failure the whole log is shown; on success what is left after dropping
# setuptools' notice that every editable install of a flat layout prints (BuildBackendWarning "Editable
# installation", ten lines), so anything else pip says (resolver conflicts, other warnings) stays visible.
quiet_pip() {
  local log rc=0
  log=$(mktemp "${TMPDIR:-/tmp}/vlkge-pip.XXXXXX")
  "$venv/bin/pip" "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$log" >&2
    echo "error: pip $* failed (exit $rc); its output is above and in $log" >&2
    return "$rc"
  fi
  awk '/BuildBackendWarning: Editable installation\./ {skip = 12}
       skip > 0 {skip--; if (/with strategy, WheelFile/) skip = 0; next}
       {print}' "$log" >&2
  rm -f "$log"
}
if [ ! -f "$venv/.complete" ]; then
  echo "creating virtual environment $venv (first run only; downloads torch, a few minutes)" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  quiet_pip install -q --upgrade pip
  quiet_pip install -q -e "$root[dev]"
  touch "$venv/.complete"
else
  # Same dependencies: only point the editable install at this checkout.
  quiet_pip install -q --no-deps -e "$root"
  touch "$venv/.complete"  # its last use, for prune-venvs.sh
fi
bash "$root/scripts/prune-venvs.sh" "$cache/venvs" "$hash" "${VLKGE_VENV_KEEP_DAYS:-14}"
echo "$venv"
