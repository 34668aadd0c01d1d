#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. unit and fixture tests (saved real outputs) and each plugin's CLI tests: cargo test --workspace
#   2. the krew distribution: manifests through krew's validator, a real krew install, kubectl asm-… --help
#   3. the local mesh (scripts/mesh/up.sh: real kube-apiserver, etcd, kwok, Envoy sidecars on loopback)
#   4. end-to-end tests: the real kubectl running the plugins against that mesh
#
#   scripts/test.sh [--keep-mesh]
#
# A mesh that was already running is left running; one started here is stopped at the end unless --keep-mesh.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = --keep-mesh ] && keep=1
start=$(date +%s)

echo "== 1/4 unit, fixture and CLI tests"
cargo test --workspace --locked

echo "== 2/4 krew distribution"
bash scripts/krew-check.sh

echo "== 3/4 local mesh"
was_up=0
if [ -f "${ASM_MESH_DIR:-/tmp/kubectl-asm-mesh}/kubeconfig" ] && eval "$(bash scripts/mesh/env.sh)" \
   && kubectl --context mesh-east get --raw /readyz >/dev/null 2>&1 \
   && kubectl --context mesh-west get --raw /readyz >/dev/null 2>&1; then
  was_up=1
  echo "the local mesh is already running; reusing it"
fi
bash scripts/mesh/up.sh
if [ $was_up = 0 ] && [ $keep = 0 ]; then
  trap 'bash scripts/mesh/down.sh' EXIT
fi
eval "$(bash scripts/mesh/env.sh)"

echo "== 4/4 end-to-end through the real kubectl"
# One thread: the tests switch fault scenarios on shared clusters.
cargo test --locked -p asm-e2e -- --include-ignored --test-threads=1
echo "test suite finished in $(( $(date +%s) - start ))s"
