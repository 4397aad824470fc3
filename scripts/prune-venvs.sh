#!/usr/bin/env bash
# Remove the project's other virtual environments once unused for DAYS days (default 14).
# Every change of the dependency lists builds a new environment of about 6.5 GB (scripts/env.sh) and the old
# ones would stay forever. Last use: the `.complete` marker's time (env.sh touches it) and the last read of
# `pyvenv.cfg` (every Python start there reads it; where the disk records reads). One that a running process
# names on its command line (a scheduler started from it) is kept, and so is one still being built. Only
# directories named like env.sh's keys are touched.
# Usage: prune-venvs.sh VENVS_DIR CURRENT_KEY [DAYS]
set -euo pipefail
dir=$1 current=$2 days=${3:-14}
[[ $days =~ ^[0-9]+$ ]] || { echo "error: prune-venvs.sh: DAYS must be a whole number, got '$days'" >&2; exit 2; }
old() { [ ! -e "$1" ] || [ -n "$(find "$1" -maxdepth 0 "$2" "+$days")" ]; }
running() {  # whether a process names a path inside $1 on its command line
  local cmdline
  for cmdline in /proc/[0-9]*/cmdline; do
    [[ $(tr '\0' ' ' 2>/dev/null < "$cmdline") == *"$1/"* ]] && return 0
  done
  return 1
}
for venv in "$dir"/*/; do
  venv=${venv%/}
  name=$(basename "$venv")
  [[ $name =~ ^[0-9a-f]{16}$ && $name != "$current" ]] || continue
  old "$venv" -mtime && old "$venv/.complete" -mtime && old "$venv/pyvenv.cfg" -atime || continue
  running "$venv" && continue
  echo "removing virtual environment $venv (unused for more than $days days)" >&2
  rm -rf "$venv"
done
