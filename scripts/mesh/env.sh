#!/usr/bin/env bash
# Print shell exports for using the local mesh:
#   eval "$(bash scripts/mesh/env.sh)"   or   source <(bash scripts/mesh/env.sh)
# PATH gets the cached binaries first (pip kubectl 1.37, envoy, etcd,
# kube-apiserver, kwok, go-httpbin) so that /usr/bin/kubectl (gcloud's) is
# never the one used.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
printf 'export ASM_CACHE_DIR=%q\n' "$ASM_CACHE_DIR"
printf 'export ASM_MESH_DIR=%q\n' "$ASM_MESH_DIR"
printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
printf 'export PATH=%q:"$PATH"\n' "$CACHE_BIN"
