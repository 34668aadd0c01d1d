#!/usr/bin/env bash
# Smoke test of the local mesh contract (docs/local-mesh.md). Run after up.sh.
# Prints one line per check and "N passed, M failed" at the end; exit 1 on failure.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
export KUBECONFIG="$KUBECONFIG_FILE"
pass=0; fail=0
check() { # check NAME EXPECTED-REGEX CMD...
  local name=$1 want=$2; shift 2
  local out; out=$("$@" 2>&1); local rc=$?
  if grep -Eq -- "$want" <<<"$out rc=$rc"; then pass=$((pass + 1)); echo "ok   $name"
  else fail=$((fail + 1)); echo "FAIL $name (rc=$rc)"; head -c 600 <<<"$out" | sed 's/^/     /'; fi
}
for ctx in mesh-east mesh-west; do
  k() { kubectl --context "$ctx" "$@"; }
  pod() { k get pod -n "$1" -l "app=$2" -o jsonpath='{.items[0].metadata.name}'; }
  S=$(pod sample sleep); L=$(pod legacy sleep); N=$(pod legacy notools); I=$(pod istio-system istiod)
  check "$ctx pods running" '^7 rc' bash -c "kubectl --context $ctx get pods -A --field-selector=status.phase=Running -o name | wc -l"
  check "$ctx xfcc via sidecar mTLS" 'By=spiffe://[^/]+/ns/sample/sa/httpbin;Hash=[0-9a-f]+;Subject=.*;URI=spiffe://[^/]+/ns/sample/sa/sleep' \
    k exec -n sample deploy/sleep -c sleep -- curl -sS http://httpbin.sample:8000/headers
  check "$ctx STRICT rejects plain text" 'command terminated with exit code (56|52)' \
    k exec -n legacy "$L" -c sleep -- curl -sS -m 5 http://httpbin.sample:8000/
  check "$ctx PERMISSIVE answers plain text" '"url"' k exec -n legacy "$L" -c sleep -- curl -sS -m 5 http://httpbin.permissive:8000/get
  check "$ctx unknown name" 'exit code 6' k exec -n legacy "$L" -c sleep -- curl -sS -m 5 http://nosuch.sample:8000/
  check "$ctx connection refused" 'exit code 7' k exec -n legacy "$L" -c sleep -- curl -sS -m 5 http://nolistener.sample:8000/
  check "$ctx timeout" 'exit code 28' k exec -n legacy "$L" -c sleep -- curl -sS -m 2 http://blackhole.sample:8000/
  check "$ctx no curl in image" 'executable file not found in \$PATH' k exec -n legacy "$N" -c app -- curl -sS http://httpbin.sample:8000/
  check "$ctx no curl in image: exit status" "exit code 126" k exec -n legacy "$N" -c app -- curl -sS http://httpbin.sample:8000/
  check "$ctx s_client chain" 'BEGIN CERTIFICATE' k exec -n sample "$S" -c istio-proxy -- openssl s_client -alpn istio -showcerts -connect httpbin.sample:8000
  check "$ctx istiod log" 'info' k logs -n istio-system "$I"
  check "$ctx viewer cannot exec" 'forbidden' kubectl --context "$ctx-viewer" exec -n sample "$S" -c sleep -- true
  check "$ctx viewer can read" 'httpbin' kubectl --context "$ctx-viewer" get pods -n sample
  check "$ctx SAR istiod may list crds" '^yes' k auth can-i list customresourcedefinitions --as system:serviceaccount:istio-system:istiod
  check "$ctx dry-run" 'created \(server dry run\)' k create configmap dry -n sample --dry-run=server
done
ctx=mesh-east
check "authz deny rule 0" 'rbac_access_denied_matched_policy\[ns\[authz-ns\]-policy\[deny-method-delete\]-rule\[0\]\]' \
  bash -c "bash '$MESH_SCRIPTS_DIR/scenario.sh' authz-traffic --context $ctx >/dev/null 2>&1; kubectl --context $ctx logs -n authz-ns deploy/httpbin -c istio-proxy"
check "authz deny rule 1" 'GET /status/418 HTTP/1.1" 403 - rbac_access_denied_matched_policy\[ns\[authz-ns\]-policy\[deny-method-delete\]-rule\[1\]\]' \
  kubectl --context $ctx logs -n authz-ns deploy/httpbin -c istio-proxy
check "authz app 403" 'GET /status/403 HTTP/1.1" 403 - via_upstream' kubectl --context $ctx logs -n authz-ns deploy/httpbin -c istio-proxy
check "authz body" 'RBAC: access denied' kubectl --context $ctx exec -n sample deploy/sleep -c sleep -- curl -sS -X DELETE http://httpbin.authz-ns:8000/delete
S=$(kubectl --context $ctx get pod -n sample -l app=sleep -o jsonpath='{.items[0].metadata.name}')
kubectl --context $ctx port-forward -n sample "pod/$S" 25000:15000 >/dev/null 2>&1 & pf=$!
sleep 2
check "port-forward envoy admin /certs" 'cert_chain|ca_cert' curl -sS -m 5 http://127.0.0.1:25000/certs
check "port-forward envoy admin /config_dump" 'ListenersConfigDump' curl -sS -m 5 http://127.0.0.1:25000/config_dump
kill $pf 2>/dev/null; wait $pf 2>/dev/null
echo "$pass passed, $fail failed"
((fail == 0))
