#!/usr/bin/env bash
# Bring up the local mesh: two Kubernetes control planes (etcd +
# kube-apiserver + kube-controller-manager) with kwok as the only "kubelet",
# Envoy sidecars, go-httpbin apps and an istiod stand-in, all on 127.0.0.0/8.
# Idempotent: anything already running is left alone; the baseline scenario is
# (re)applied at the end. See docs/local-mesh.md for the contract.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
T0=$SECONDS

bash "$MESH_SCRIPTS_DIR/deps.sh"
T_DEPS=$((SECONDS - T0))

mkdir -p "$ASM_MESH_DIR" "$LOG_DIR" "$RUN_DIR"
MESHCTL=("$PY" "$MESH_SCRIPTS_DIR/lib/meshctl.py")
KC=("$CACHE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE")

# wait_for DESCRIPTION SECONDS CMD...: poll until CMD succeeds.
wait_for() {
  local what=$1 limit=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || die "timed out after ${limit}s waiting for $what (logs: $LOG_DIR)"
    sleep 0.5
  done
}

for c in "${MESH_CLUSTERS[@]}"; do "${MESHCTL[@]}" pki "$c"; done
"${MESHCTL[@]}" kubeconfig

start_cluster() {
  local c=$1 d="$ASM_MESH_DIR/$1" pki="$ASM_MESH_DIR/$1/pki/kube"
  local api=${APISERVER_PORT[$c]} etcd=${ETCD_PORT[$c]} peer=${ETCD_PEER_PORT[$c]}
  mkdir -p "$d/etcd"
  "${MESHCTL[@]}" start "$c-etcd" -- "$CACHE_BIN/etcd" --name "mesh-$c" --data-dir "$d/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd" --advertise-client-urls "http://127.0.0.1:$etcd" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "mesh-$c=http://127.0.0.1:$peer" --unsafe-no-fsync --log-level warn >/dev/null
  wait_for "etcd ($c)" 60 curl -fsS "http://127.0.0.1:$etcd/health"

  # Why these flags: real TLS + client-cert auth + service-account tokens
  # (issuer/keys), Node,RBAC authorization, loopback only. No endpoint
  # reconciler: Endpoints may not hold loopback addresses.
  "${MESHCTL[@]}" start "$c-apiserver" -- "$CACHE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$api" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --api-audiences "https://kubernetes.default.svc.cluster.local,istio-ca" \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
    --kubelet-client-certificate "$pki/kubelet-client.crt" --kubelet-client-key "$pki/kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota,MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
    --profiling=false --v 1 >/dev/null
  wait_for "kube-apiserver ($c) /readyz" 180 "${KC[@]}" --context "mesh-$c" get --raw /readyz

  # CRDs: Istio's (from istio.io/api) and kwok's Exec/Logs/PortForward.
  "${KC[@]}" --context "mesh-$c" apply --server-side --force-conflicts -f "$MESH_FIXTURES/crds/istio-crds.gen.yaml" >/dev/null
  for k in execs logs portforwards clusterexecs clusterlogs clusterportforwards attaches clusterattaches; do
    "${KC[@]}" --context "mesh-$c" apply --server-side --force-conflicts -f "$ASM_CACHE_DIR/kwok-crds/kwok.x-k8s.io_$k.yaml" >/dev/null
  done
  wait_for "CRDs established ($c)" 60 "${KC[@]}" --context "mesh-$c" wait --for condition=established --timeout 5s \
    crd/peerauthentications.security.istio.io crd/authorizationpolicies.security.istio.io crd/execs.kwok.x-k8s.io \
    crd/logs.kwok.x-k8s.io crd/portforwards.kwok.x-k8s.io

  "${MESHCTL[@]}" start "$c-kcm" -- "$CACHE_BIN/kube-controller-manager" \
    --kubeconfig "$d/kcm.kubeconfig" --authentication-kubeconfig "$d/kcm.kubeconfig" \
    --authorization-kubeconfig "$d/kcm.kubeconfig" --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials=false --secure-port 0 \
    --controllers '*,-node-lifecycle-controller,-node-ipam-controller,-persistentvolume-binder-controller,-persistentvolume-attach-detach-controller,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller,-taint-eviction-controller,-device-taint-eviction-controller' \
    --v 1 >/dev/null

  # Node object for kwok to manage.
  "${KC[@]}" --context "mesh-$c" apply -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"mesh-$c-node-1","labels":{"kubernetes.io/hostname":"mesh-$c-node-1","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok","topology.kubernetes.io/region":"local-$c","topology.kubernetes.io/zone":"local-$c-a"},"annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"}},"spec":{}}
JSON

  # kwok runs in its own mount namespace where /etc/hosts and
  # /etc/resolv.conf are replaced by the mesh's, so commands run through
  # `kubectl exec` (kwok's children) resolve Service names to loopback pod
  # addresses, and nothing else on the machine is affected.
  "${MESHCTL[@]}" kwok-config "$c"
  "$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import meshctl; meshctl.hosts_file(sys.argv[2])' \
    "$MESH_SCRIPTS_DIR/lib" "$c"
  local kwok_addr=${KWOK_ADDR[$c]}
  "${MESHCTL[@]}" start "$c-kwok" -- unshare --mount --propagation private -- /bin/sh -c \
    'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"' sh \
    "$d/hosts" "$d/resolv.conf" \
    "$CACHE_BIN/kwok" --kubeconfig "$d/kwok.kubeconfig" --config "$d/kwok.yaml" --manage-all-nodes \
    --node-ip "$kwok_addr" --node-port "$KWOK_PORT" --server-address "$kwok_addr:$KWOK_PORT" \
    --tls-cert-file "$pki/kubelet.crt" --tls-private-key-file "$pki/kubelet.key" \
    --enable-crds Exec,Logs,PortForward,ClusterExec,ClusterLogs,ClusterPortForward,Attach,ClusterAttach \
    --node-lease-duration-seconds 40 >/dev/null
  wait_for "node mesh-$c-node-1 Ready" 90 "${KC[@]}" --context "mesh-$c" wait --for condition=Ready --timeout 5s "node/mesh-$c-node-1"
}

apply_baseline() {
  local c=$1
  "${MESHCTL[@]}" manifests "$c" "$ASM_MESH_DIR/$c/baseline.json"
  "${KC[@]}" --context "mesh-$c" apply --server-side --force-conflicts --field-manager=asm-mesh -f "$ASM_MESH_DIR/$c/baseline.json" >/dev/null
  wait_for "pods Running in mesh-$c" 120 bash -c "
    n=\$('${KC[0]}' --kubeconfig '$KUBECONFIG_FILE' --context mesh-$c get pods -A --field-selector=status.phase=Running -o name | wc -l)
    [ \"\$n\" -ge 7 ]"
  "${MESHCTL[@]}" sync "$c"
  # The 'istiod' of the local mesh: keeps Envoy config and kwok objects in
  # line with PeerAuthentications/AuthorizationPolicies and pod names.
  "${MESHCTL[@]}" start "$c-pilot" -- "$PY" "$MESH_SCRIPTS_DIR/lib/meshctl.py" sync "$c" --watch >/dev/null
}

# The two clusters are independent: bring them up in parallel (each one's
# progress goes to logs/up-<cluster>.log; a failure names that file).
bring_up() {
  local c=$1
  log "starting control plane mesh-$c"
  start_cluster "$c"
  log "applying baseline to mesh-$c"
  apply_baseline "$c"
  bash "$MESH_SCRIPTS_DIR/scenario.sh" baseline --context "mesh-$c"
}
pids=()
for c in "${MESH_CLUSTERS[@]}"; do
  bring_up "$c" >"$LOG_DIR/up-$c.log" 2>&1 &
  pids+=($!)
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${MESH_CLUSTERS[$i]}")
done
for c in "${failed[@]}"; do
  tail -n 15 "$LOG_DIR/up-$c.log" >&2
  die "bringing up mesh-$c failed; full output in $LOG_DIR/up-$c.log, process logs in $LOG_DIR"
done

log "mesh is up (deps ${T_DEPS}s, total $((SECONDS - T0))s). KUBECONFIG=$KUBECONFIG_FILE contexts: mesh-east mesh-west mesh-east-viewer mesh-west-viewer"
echo "up.sh took $((SECONDS - T0))s (deps ${T_DEPS}s)"
