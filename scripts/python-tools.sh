#!/usr/bin/env bash
# Installs the real Singer clients the end-to-end tests run, each in a project-local virtual environment:
#   .venv-meltano        meltano
#   .venv-target-jsonl   target-jsonl (pins old singer-python: it cannot share Meltano's venv)
#   .venv-target-postgres MeltanoLabs' target-postgres
#   .venv-singer-tools   singer-tools (singer-check-tap), which pins old dependencies of its own
# meltano.yml runs the targets from these venvs by path, so `meltano run` needs no `meltano install`.
# Idempotent: a stamp holding this script's hash skips a venv that is already complete.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
hash=$(sha256sum "$0" | cut -c1-16)

make_venv() { # name, packages...
  local dir=$1; shift
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$hash" ]; then
    echo "python-tools: $dir is up to date"
    return
  fi
  echo "python-tools: building $dir ($*)"
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check --upgrade pip 'setuptools<70' wheel
  "$dir/bin/pip" install -q --disable-pip-version-check "$@"
  echo "$hash" > "$dir/.stamp"
}

started=$(date +%s)
pids=()
make_venv .venv-meltano 'meltano>=3.5,<4' & pids+=($!)
make_venv .venv-target-jsonl 'target-jsonl==0.1.4' & pids+=($!)
make_venv .venv-target-postgres 'meltanolabs-target-postgres' & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done   # set -e: a failed build fails the script
# singer-tools 0.4.1 wants singer-python 5 and old jsonschema/strict-rfc3339: keep it apart from Meltano
make_venv .venv-singer-tools 'singer-tools==0.4.1'
echo "python-tools: ready in $(( $(date +%s) - started )) s"
