#!/usr/bin/env bash
# Build the vlkge.* Neo4j procedure plugin (cypher/procedures) with Maven, running its JUnit tests, and print
# the jar's path on stdout. Idempotent: when nothing under cypher/procedures changed since the last successful
# build (with its tests, unless they are skipped) the jar is reused; --force rebuilds anyway.
#   scripts/build-plugin.sh [--skip-tests] [--force]     (or VLKGE_SKIP_PLUGIN_TESTS=1)
# Needs Java 17 and Maven 3.8+; the first build downloads Neo4j's jars into ~/.m2 (a few minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module=$root/cypher/procedures
jar=$module/target/vlkge-procedures-0.1.0.jar
stamp=$module/target/.vlkge-built   # touched after each successful build
tested=$module/target/.vlkge-tests-passed
skip_tests=${VLKGE_SKIP_PLUGIN_TESTS:-0}
force=0
for arg in "$@"; do
  case $arg in
    --skip-tests) skip_tests=1 ;;
    --force) force=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (use --skip-tests, --force)" >&2; exit 2 ;;
  esac
done
for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' not found; the plugin needs Java 17 and Maven" >&2; exit 1; }
done

# Maven's own output goes to stderr (stdout is only the jar path), without the colour codes it prints even in -q -B.
mvn_quiet() { mvn -q -B -Dstyle.color=never -f "$module/pom.xml" "$@" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2; }

up_to_date() {
  [ -f "$jar" ] && [ -f "$stamp" ] || return 1
  [ -n "$(find "$module/pom.xml" "$module/src" -newer "$stamp" -print -quit)" ] && return 1
  [ "$skip_tests" = 1 ] || [ -f "$tested" ] || return 1
}

if [ "$force" = 1 ] || ! up_to_date; then
  rm -f "$tested" "$stamp"
  if [ "$skip_tests" = 1 ]; then
    echo "building the vlkge procedure plugin (tests skipped)" >&2
    mvn_quiet -DskipTests package
  else
    echo "building the vlkge procedure plugin and running its JUnit tests (neo4j-harness, about a minute)" >&2
    mvn_quiet package
    touch "$tested"
  fi
  touch "$stamp"
fi
[ -f "$jar" ] || { echo "error: Maven finished but $jar is missing" >&2; exit 1; }
echo "$jar"
