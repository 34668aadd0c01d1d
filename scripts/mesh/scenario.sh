#!/usr/bin/env bash
# Switch a fault on in one cluster of the local mesh (idempotent), or go back
# to the baseline:   bash scripts/mesh/scenario.sh NAME [--context mesh-east|mesh-west]
#
#   baseline                  everything as after up.sh
#   webhook-empty-cabundle    injector webhooks' caBundle = ""
#   webhook-wrong-cabundle    caBundle = a valid CA cert from an unrelated CA
#   webhook-expired-cabundle  caBundle = an expired CA cert
#   webhook-garbage-cabundle  caBundle = base64 of bytes that are no certificate
#   istiod-logs               istiod log has every runbook signature, in the
#                             text, JSON and klog formats of several versions
#   istiod-rbac-missing       ClusterRoleBinding istiod-clusterrole-istio-system
#                             deleted; istiod log has the "forbidden" lines
#   authz-traffic             real requests sleep -> httpbin.authz-ns (allowed,
#                             denied by rule 0 and rule 1, an app 403)
#   httpbin-expired-cert      sample/httpbin's sidecar serves an expired leaf
#   west-trust-domain         (mesh-west only) trust domain west.example
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { sed -n '2,20p' "$0" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
name=$1; shift
ctx=mesh-east
while [[ $# -gt 0 ]]; do
  case $1 in
    --context) ctx=$2; shift 2;;
    --context=*) ctx=${1#*=}; shift;;
    *) usage;;
  esac
done
c=${ctx#mesh-}
[[ " ${MESH_CLUSTERS[*]} " == *" $c "* ]] || die "unknown context $ctx (use mesh-east or mesh-west)"
[[ -f "$KUBECONFIG_FILE" ]] || die "no $KUBECONFIG_FILE: run scripts/mesh/up.sh first"
k() { "$CACHE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" --context "$ctx" "$@"; }
MESHCTL=("$PY" "$MESH_SCRIPTS_DIR/lib/meshctl.py")
FX="$ASM_MESH_DIR/$c/pki/fixtures"

# set_cabundle B64: every webhook of every injector configuration
set_cabundle() {
  local b64=$1 wh n i patch
  for wh in $(k get mutatingwebhookconfigurations -l app=sidecar-injector -o name); do
    n=$(k get "$wh" -o jsonpath='{range .webhooks[*]}x{end}' | wc -c)
    patch="["
    for ((i = 0; i < n; i++)); do
      patch+="{\"op\":\"replace\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$b64\"},"
    done
    k patch "$wh" --type json -p "${patch%,}]" >/dev/null
  done
}

pod_of() { k get pods -n "$1" -l "app=$2" -o jsonpath='{.items[0].metadata.name}'; }

baseline() {
  if [[ "$c" == west && -f "$ASM_MESH_DIR/west/trust-domain" ]]; then
    rm -f "$ASM_MESH_DIR/west/trust-domain"
    "${MESHCTL[@]}" pki west
  fi
  restore_certs
  "${MESHCTL[@]}" manifests "$c" "$ASM_MESH_DIR/$c/baseline.json"
  k apply --server-side --force-conflicts --field-manager=asm-mesh -f "$ASM_MESH_DIR/$c/baseline.json" >/dev/null
  # Istio objects that scenarios or tests added are removed again.
  local keep_ap=" authz-ns/deny-method-delete authz-ns/allow-get-only "
  local keep_pa=" istio-system/default sample/default permissive/default "
  k get authorizationpolicies.security.istio.io -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' |
    while read -r o; do [[ -z "$o" || "$keep_ap" == *" $o "* ]] || k delete authorizationpolicies.security.istio.io -n "${o%/*}" "${o#*/}" >/dev/null; done
  k get peerauthentications.security.istio.io -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' |
    while read -r o; do [[ -z "$o" || "$keep_pa" == *" $o "* ]] || k delete peerauthentications.security.istio.io -n "${o%/*}" "${o#*/}" >/dev/null; done
  "${MESHCTL[@]}" istiod-log "$c" baseline
  : >"$ASM_MESH_DIR/$c/pods/authz-ns/httpbin/istio-proxy.log"
}

restore_certs() {
  local d="$ASM_MESH_DIR/$c/pods/sample/httpbin/certs"
  if [[ -f "$d/.scenario" ]]; then
    rm -f "$d/identity" "$d/.scenario"
    "${MESHCTL[@]}" pki "$c"
  fi
}

authz_traffic() {
  local sleep_pod; sleep_pod=$(pod_of sample sleep)
  [[ -n "$sleep_pod" ]] || die "no sleep pod in sample ($ctx)"
  sleep 3 # let the pilot push the current policies
  local m path
  for req in "GET /get" "GET /headers" "DELETE /delete" "GET /status/418" "GET /status/403" "DELETE /anything" "GET /status/418" "POST /post"; do
    m=${req% *}; path=${req#* }
    code=$(k exec -n sample "$sleep_pod" -c sleep -- curl -s -o /dev/null -w '%{http_code}' -X "$m" \
      "http://httpbin.authz-ns:8000$path" || true)
    log "authz-traffic: $m $path -> $code"
  done
  sleep 2 # Envoy flushes access log files about once a second
}

case $name in
  baseline) baseline ;;
  webhook-empty-cabundle) set_cabundle "" ;;
  webhook-wrong-cabundle) set_cabundle "$(base64 -w0 "$FX/unrelated-ca.pem")" ;;
  webhook-expired-cabundle) set_cabundle "$(base64 -w0 "$FX/expired-ca.pem")" ;;
  webhook-garbage-cabundle) set_cabundle "$(printf 'this is not a certificate, just bytes \x01\x02\x03' | base64 -w0)" ;;
  istiod-logs) "${MESHCTL[@]}" istiod-log "$c" signatures ;;
  istiod-rbac-missing)
    k delete clusterrolebinding istiod-clusterrole-istio-system --ignore-not-found >/dev/null
    "${MESHCTL[@]}" istiod-log "$c" rbac-forbidden ;;
  authz-traffic) authz_traffic ;;
  httpbin-expired-cert)
    "${MESHCTL[@]}" expired-cert "$c" sample httpbin
    touch "$ASM_MESH_DIR/$c/pods/sample/httpbin/certs/.scenario" ;;
  west-trust-domain)
    [[ "$c" == west ]] || die "west-trust-domain applies to mesh-west only"
    echo west.example >"$ASM_MESH_DIR/west/trust-domain"
    "${MESHCTL[@]}" pki west ;;
  *) die "unknown scenario '$name'" ;;
esac
echo "scenario $name applied to $ctx"
