#!/usr/bin/env bash
# Installs the Python programs the benchmark runs, each in its own project-local venv (their pins
# conflict). `npm run bench` runs it first (unless --no-python); a second run takes a second.
#   .venv-bench-pipelinewise   pipelinewise-tap-postgres (old singer-python, psycopg2-binary)
#   .venv-bench-meltanolabs    MeltanoLabs' tap-postgres (singer-sdk, SQLAlchemy)
#   .venv-bench-target-jsonl   target-jsonl, the real Singer target the tap is piped into
# Idempotent: a stamp holding this script's hash skips a venv that is already complete.
# A tap that cannot install leaves its reason in .tmp/<venv>.failed and the script still exits 0, so the
# bench reports "not installable: <reason>" instead of failing.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
hash=$(sha256sum "$0" | cut -c1-16)

make_venv() { # dir, packages...
  local dir=$1; shift
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$hash" ]; then
    echo "python-taps: $dir is up to date"
    return 0
  fi
  echo "python-taps: building $dir ($*)"
  local failed=".tmp/$dir.failed"
  mkdir -p .tmp
  rm -rf "$dir" "$failed"
  local log
  log=$(mktemp)
  if "$PY" -m venv "$dir" >"$log" 2>&1 \
    && "$dir/bin/pip" install -q --disable-pip-version-check --upgrade pip 'setuptools<70' wheel >>"$log" 2>&1 \
    && "$dir/bin/pip" install -q --disable-pip-version-check "$@" >>"$log" 2>&1; then
    echo "$hash" > "$dir/.stamp"
    echo "python-taps: $dir ready"
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
make_venv .venv-bench-pipelinewise 'pipelinewise-tap-postgres==1.8.4' 'psycopg2-binary>=2.9.3,<2.10' &
a=$!
make_venv .venv-bench-meltanolabs 'meltanolabs-tap-postgres' &
b=$!
make_venv .venv-bench-target-jsonl 'target-jsonl==0.1.4' &
c=$!
wait $a; wait $b; wait $c
exit 0
