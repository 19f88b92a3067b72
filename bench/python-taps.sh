#!/usr/bin/env bash
# Installs the Python programs the benchmark runs, each in its own project-local venv (their pins
# conflict). `npm run bench` runs it first (unless --no-python); a second run takes a second.
#   .venv-bench-pipelinewise   pipelinewise-tap-postgres (old singer-python, psycopg2-binary)
#   .venv-bench-meltanolabs    MeltanoLabs' tap-postgres (singer-sdk, SQLAlchemy)
#   .venv-target-jsonl         target-jsonl, the real Singer target the tap is piped into (the same venv
#                              as scripts/python-tools.sh's: scripts/venv.sh keeps it when it holds the same)
# Idempotent (scripts/venv.sh). A program that cannot install leaves its reason in .tmp/<venv>.failed
# and the script still exits 0, so the bench reports "not installable: <reason>" instead of failing.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
. scripts/venv.sh

try_venv() { # dir, packages...
  local dir=$1 failed=".tmp/$1.failed" log
  mkdir -p .tmp
  rm -f "$failed"
  log=$(mktemp)
  if make_venv python-taps "$@" >"$log" 2>&1; then
    grep '^python-taps: ' "$log"
  else
    # keep the last error lines: the bench prints them as the reason
    grep -iE 'error|requires|conflict' "$log" | tail -n 3 > "$failed"
    [ -s "$failed" ] || tail -n 3 "$log" > "$failed"
    echo "python-taps: $dir not installable: $(tr '\n' ' ' < "$failed")" >&2
  fi
  rm -f "$log"
}

# pipelinewise-tap-postgres 2.x declares Requires-Python <3.10: 1.8.4 is the newest that installs on 3.11
# (it brings psycopg2-binary 2.9.3, which has a wheel for 3.11)
try_venv .venv-bench-pipelinewise 'pipelinewise-tap-postgres==1.8.4' 'psycopg2-binary>=2.9.3,<2.10' &
try_venv .venv-bench-meltanolabs 'meltanolabs-tap-postgres' &
try_venv .venv-target-jsonl 'target-jsonl==0.1.4' &
wait
exit 0
