#!/usr/bin/env bash
# The main job on the built-in local mesh: bring the mesh up (no cluster of your own needed), install the
# plugins, then run the runbook through them against healthy and faulty scenarios, each command shown as
# typed. Every finding printed is a real probe of a real API server, kwok kubelet and Envoy sidecar.
#
#   scripts/demo.sh            (leaves the mesh running; scripts/mesh/down.sh stops it)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/mesh/up.sh || { echo "demo: the local mesh did not come up (see \${ASM_MESH_DIR:-/tmp/kubectl-asm-mesh}/logs)" >&2; exit 2; }
eval "$(bash scripts/mesh/env.sh)"
prefix="${ASM_MESH_DIR:-/tmp/kubectl-asm-mesh}/plugins"
bash scripts/install.sh --debug --prefix "$prefix" >/dev/null || exit 2
export PATH="$prefix/bin:$PATH"

run() {
  printf '\n\033[1m$ %s\033[0m\n' "$*"
  "$@"
  echo "(exit $?)"
}
scenario() { bash scripts/mesh/scenario.sh "$@" >/dev/null; }

echo "### Verify TLS enforcement: plain text to a STRICT service, then to a PERMISSIVE one"
run kubectl asm-tls verify --context mesh-east --from sleep.legacy --to httpbin.sample:8000
run kubectl asm-tls verify --context mesh-east,mesh-west --from sleep.legacy --to httpbin.permissive:8000
run kubectl asm-tls mode --context mesh-east -A

echo "### The injector's caBundle, healthy and then overwritten by an unrelated CA"
run kubectl asm-tls webhook --context mesh-east
scenario webhook-wrong-cabundle --context mesh-east
run kubectl asm-tls webhook --context mesh-east
scenario baseline --context mesh-east

echo "### mTLS certificates: XFCC through httpbin, the chain and its root, roots across clusters"
run kubectl asm-certs xfcc --context mesh-east --from sleep.sample --to httpbin.sample:8000
run kubectl asm-certs chain --context mesh-west --from sleep.sample --to httpbin.sample:8000
run kubectl asm-certs root-consistency --context mesh-east,mesh-west

echo "### Authorization: is the policy enforced, and which rule denied what"
scenario authz-traffic --context mesh-east
run kubectl asm-authz verify --context mesh-east --from sleep.sample --to httpbin.authz-ns:8000 -X DELETE --path /delete --expect deny
run kubectl asm-authz explain --context mesh-east -n authz-ns
run kubectl asm-authz policies --context mesh-east httpbin.authz-ns

echo "### istiod's logs: the runbook's three signatures, with remediation"
scenario istiod-rbac-missing --context mesh-east
run kubectl asm-logs scan --context mesh-east
scenario baseline --context mesh-east

echo
echo "The mesh is still running: KUBECONFIG=${ASM_MESH_DIR:-/tmp/kubectl-asm-mesh}/kubeconfig; stop it with scripts/mesh/down.sh"
