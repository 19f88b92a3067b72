#!/usr/bin/env bash
# Installs the real Singer clients the end-to-end tests run, each in a project-local virtual environment:
#   .venv-meltano        meltano
#   .venv-target-jsonl   target-jsonl (pins old singer-python: it cannot share Meltano's venv)
#   .venv-target-postgres MeltanoLabs' target-postgres
#   .venv-singer-tools   singer-tools (singer-check-tap), which pins old dependencies of its own
#   .venv-batch-tools    pyarrow (reads the tap's Parquet batches back), moto[server] (a local S3 for the tests) and
#                        target-postgres beside pyarrow (singer-sdk reads Parquet batches only with pyarrow)
# meltano.yml runs the targets from these venvs by path, so `meltano run` needs no `meltano install`.
# Idempotent (scripts/venv.sh): a venv whose stamp names the same packages is kept. Any failure fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
. scripts/venv.sh

started=$(date +%s)
pids=()
make_venv python-tools .venv-meltano 'meltano>=4.4,<5' & pids+=($!)
make_venv python-tools .venv-target-jsonl 'target-jsonl==0.1.4' & pids+=($!)
make_venv python-tools .venv-target-postgres 'meltanolabs-target-postgres' & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done   # set -e: a failed build fails the script
# singer-tools 0.4.1 wants singer-python 5 and old jsonschema/strict-rfc3339: keep it apart from Meltano
make_venv python-tools .venv-singer-tools 'singer-tools==0.4.1'
make_venv python-tools .venv-batch-tools 'pyarrow' 'moto[server]' 'meltanolabs-target-postgres'
echo "python-tools: ready in $(( $(date +%s) - started )) s"
