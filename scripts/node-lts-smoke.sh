#!/usr/bin/env bash
# The tests that run on the newest Node LTS line as well as on the machine's Node (.ci/run runs the whole
# suite on the latter): the unit tests, and through the CLI `--about`, discovery, FULL_TABLE and INCREMENTAL
# against the native cluster, hypertables read chunk by chunk (embedded and native), and Parquet BATCH files
# (written on a worker thread) read back by pyarrow. The full suite twice would not fit CI's 30 minutes on two
# shared cores; this takes ~2 minutes.
#
# The Node binary is npm's node-<platform>-<arch> package (what the `node` package's preinstall script
# fetches; installed directly, no install script runs), kept in .tmp/node-<line>/. NODE_LTS picks the line:
# the newest LTS (26 since 2026-10-28); raise it when the next line enters LTS.
set -euo pipefail
cd "$(dirname "$0")/.."
line=${NODE_LTS:-26}
pkg="node-$(node -p 'process.platform + "-" + process.arch')"
dir=.tmp/node-$line
if ! [ -x "$dir/node_modules/$pkg/bin/node" ]; then
  echo "node-lts-smoke: installing $pkg@$line into $dir"
  mkdir -p "$dir"
  npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$dir" "$pkg@$line" >/dev/null
fi
export PATH="$PWD/$dir/node_modules/$pkg/bin:$PATH" # vitest, and the tap it spawns (process.execPath), run on it
echo "node-lts-smoke: node $(node --version)"
TESTS_SUMMARY_LABEL="node-lts-smoke (node $(node --version))" node scripts/run-tests.mjs test/unit test/e2e/meltano-hub.test.ts test/integration/full-table-native.test.ts test/integration/timescaledb-chunks.test.ts \
  test/integration/batch-parquet.test.ts
