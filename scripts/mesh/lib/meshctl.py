#!/usr/bin/env python3
"""meshctl: the brains of the local mesh harness.

Subcommands (called by up.sh / scenario.sh / down.sh, not meant for users):

  pki CLUSTER                 control-plane + mesh certificates (idempotent)
  kubeconfig                  write $ASM_MESH_DIR/kubeconfig (all contexts)
  kwok-config CLUSTER         kwok stage config (pod IPs from an annotation)
  manifests CLUSTER           baseline Kubernetes objects as a JSON List
  start NAME -- ARGV...       start a background process, pidfile + log
  sync CLUSTER [--watch]      "mini istiod": read pods, PeerAuthentications
                              and AuthorizationPolicies from the cluster and
                              (re)write Envoy config, kwok Exec/Logs/PortForward
                              objects, the mesh hosts file; start the per-pod
                              processes (envoy, go-httpbin, stand-ins)
  istiod-log CLUSTER KIND     write the istiod pod's log (baseline|signatures|rbac)
  stop                        stop every process started by the harness

Why Python: the Envoy/Kubernetes objects are nested JSON, and translating
Istio policies is far clearer here than in shell.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import datetime as dt

sys.path.insert(0, os.path.dirname(__file__))
import pki  # noqa: E402

MESH_DIR = os.environ.get("ASM_MESH_DIR", "/tmp/kubectl-asm-mesh")
CACHE_DIR = os.environ.get("ASM_CACHE_DIR", os.path.expanduser("~/.cache/kubectl-asm/v1"))
CACHE_BIN = os.path.join(CACHE_DIR, "bin")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "mesh")
RUN_DIR = os.path.join(MESH_DIR, "run")
LOG_DIR = os.path.join(MESH_DIR, "logs")
KUBECONFIG = os.path.join(MESH_DIR, "kubeconfig")
KUBECTL = os.path.join(CACHE_BIN, "kubectl")

CLUSTERS = {
    "east": dict(api=16443, pod_net="127.0.10", local_net="127.0.11", ca="istiod"),
    "west": dict(api=26443, pod_net="127.0.20", local_net="127.0.21", ca="meshca"),
}
POD_IP_ANNOTATION = "mesh.kubectl-asm.dev/pod-ip"
STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ISTIO_ALPNS = ["istio-peer-exchange", "istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"]

# Workloads. idx is the last octet of the pod IP (pod_net.idx) and of the
# pod's "inside the pod" address (local_net.idx: app ports, envoy admin/egress).
# svc: (port name, service port, container/target port)
WORKLOADS = [
    dict(ns="istio-system", app="istiod", sa="istiod", idx=2, kind="istiod", sidecar=False,
         containers=["discovery"], image="gcr.io/istio-release/pilot:1.20.3",
         svc=[("grpc-xds", 15010, 15010), ("https-dns", 15012, 15012), ("https-webhook", 443, 15017)]),
    dict(ns="sample", app="httpbin", sa="httpbin", idx=10, kind="httpbin", sidecar=True,
         containers=["httpbin"], image="docker.io/mccutchen/go-httpbin:v2.26.0", svc=[("http", 8000, 8080)]),
    dict(ns="sample", app="sleep", sa="sleep", idx=11, kind="sleep", sidecar=True,
         containers=["sleep"], image="curlimages/curl:8.8.0", svc=[("http", 80, 80)]),
    dict(ns="permissive", app="httpbin", sa="httpbin", idx=20, kind="httpbin", sidecar=True,
         containers=["httpbin"], image="docker.io/mccutchen/go-httpbin:v2.26.0", svc=[("http", 8000, 8080)]),
    dict(ns="authz-ns", app="httpbin", sa="httpbin", idx=30, kind="httpbin", sidecar=True,
         containers=["httpbin"], image="docker.io/mccutchen/go-httpbin:v2.26.0", svc=[("http", 8000, 8080)]),
    dict(ns="legacy", app="sleep", sa="sleep", idx=40, kind="sleep", sidecar=False,
         containers=["sleep"], image="curlimages/curl:8.8.0", svc=[("http", 80, 80)]),
    dict(ns="legacy", app="notools", sa="default", idx=41, kind="notools", sidecar=False,
         containers=["app"], image="gcr.io/distroless/static:nonroot", svc=[]),
]
# Services without pods behind a sidecar: they resolve, but
#  nolistener: nothing listens (connection refused)
#  blackhole:  accepts TCP, never answers (timeout)
EXTRA_SERVICES = [
    dict(ns="sample", name="nolistener", idx=50, port=8000),
    dict(ns="sample", name="blackhole", idx=51, port=8000),
]
NAMESPACES = {
    "istio-system": {},
    "sample": {"istio-injection": "enabled"},
    "permissive": {"istio-injection": "enabled"},
    "authz-ns": {"istio-injection": "enabled"},
    "legacy": {},
}


def cdir(cluster, *parts):
    return os.path.join(MESH_DIR, cluster, *parts)


def trust_domain(cluster):
    p = cdir(cluster, "trust-domain")
    if os.path.exists(p):
        return open(p).read().strip()
    return "cluster.local"


def pod_dir(cluster, w):
    return cdir(cluster, "pods", w["ns"], w["app"])


def write_json(path, obj):
    pki.write(path, json.dumps(obj, indent=1))


def kubectl(cluster, *args, input=None, check=True):
    cmd = [KUBECTL, "--kubeconfig", KUBECONFIG, "--context", f"mesh-{cluster}", *args]
    r = subprocess.run(cmd, input=input, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


# ------------------------------------------------------------------ PKI
def cmd_pki(cluster):
    pki.kube_pki(cdir(cluster, "pki", "kube"), cluster)
    td = trust_domain(cluster)
    ca = pki.mesh_ca(cdir(cluster, "pki", "mesh-ca"), CLUSTERS[cluster]["ca"], td)
    fx = cdir(cluster, "pki", "fixtures")
    if not os.path.exists(os.path.join(fx, "expired-ca.pem")):
        pki.fixtures(fx, ca, CLUSTERS[cluster]["ca"], td)
    ist = cdir(cluster, "pki", "istiod-serving")
    if not os.path.exists(os.path.join(ist, "key.pem")):
        pki.istiod_serving(ca, ist)
    for w in WORKLOADS:
        if w["sidecar"]:
            ensure_workload_cert(cluster, w, ca)


def ensure_workload_cert(cluster, w, ca=None, force=False):
    d = os.path.join(pod_dir(cluster, w), "certs")
    td = trust_domain(cluster)
    marker = os.path.join(d, "identity")
    ident = f"spiffe://{td}/ns/{w['ns']}/sa/{w['sa']}"
    if not force and os.path.exists(marker):
        cur = open(marker).read()
        # "scenario:..." = a scenario put special certs here; baseline removes it
        if cur == ident or cur.startswith("scenario:"):
            return d
    ca = ca or pki.load_ca(cdir(cluster, "pki", "mesh-ca"))
    pki.workload_cert(ca, CLUSTERS[cluster]["ca"], td, w["ns"], w["sa"], d)
    pki.write(marker, ident)
    return d


def b64(s):
    import base64
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def cmd_kubeconfig():
    clusters, users, contexts = [], [], []
    for c, conf in CLUSTERS.items():
        k = cdir(c, "pki", "kube")
        if not os.path.exists(os.path.join(k, "ca.crt")):
            continue
        rd = lambda n: b64(open(os.path.join(k, n)).read())  # noqa: E731
        clusters.append({"name": f"mesh-{c}", "cluster": {
            "server": f"https://127.0.0.1:{conf['api']}", "certificate-authority-data": rd("ca.crt")}})
        users.append({"name": f"mesh-{c}-admin", "user": {
            "client-certificate-data": rd("admin.crt"), "client-key-data": rd("admin.key")}})
        contexts.append({"name": f"mesh-{c}", "context": {"cluster": f"mesh-{c}", "user": f"mesh-{c}-admin"}})
        users.append({"name": f"mesh-{c}-viewer", "user": {
            "client-certificate-data": rd("viewer.crt"), "client-key-data": rd("viewer.key")}})
        contexts.append({"name": f"mesh-{c}-viewer", "context": {"cluster": f"mesh-{c}", "user": f"mesh-{c}-viewer"}})
        # internal identities (controller-manager, kwok) get their own files
        for who in ("kcm", "kwok"):
            write_json(cdir(c, f"{who}.kubeconfig"), {
                "apiVersion": "v1", "kind": "Config", "current-context": "x",
                "clusters": [{"name": "x", "cluster": clusters[-1]["cluster"]}],
                "users": [{"name": "x", "user": {"client-certificate": os.path.join(k, f"{who}.crt"),
                                                  "client-key": os.path.join(k, f"{who}.key")}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]})
    write_json(KUBECONFIG, {"apiVersion": "v1", "kind": "Config", "current-context": "mesh-east",
                            "clusters": clusters, "users": users, "contexts": contexts})
    os.chmod(KUBECONFIG, 0o600)


# ------------------------------------------------------------------ kwok
def cmd_kwok_config(cluster):
    """Stages for kwok. Written here (not kwok's defaults) because pod IPs must
    be the loopback addresses our per-pod processes listen on."""
    node_init = r"""
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: mesh-node-initialize}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: NotIn, values: ['True']}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      addresses:
      - {address: {{ NodeIP | Quote }}, type: InternalIP}
      - {address: {{ .metadata.name | Quote }}, type: Hostname}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ NodePort }}
      allocatable: {cpu: "32", memory: 64Gi, pods: "110"}
      capacity: {cpu: "32", memory: 64Gi, pods: "110"}
      nodeInfo:
        architecture: amd64
        containerRuntimeVersion: "containerd://1.7.0-kwok"
        kernelVersion: {{ printf "kwok-%s" Version | Quote }}
        kubeProxyVersion: v1.37.2
        kubeletVersion: v1.37.2
        operatingSystem: linux
        osImage: "kubectl-asm local mesh (kwok)"
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: mesh-node-heartbeat}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: In, values: ['True']}
  delay: {durationMilliseconds: 20000, jitterDurationMilliseconds: 5000}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
  immediateNextStage: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: mesh-pod-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.phase', operator: In, values: [Pending]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        imageID: {{ printf "%s@sha256:0000000000000000000000000000000000000000000000000000000000000000" .image | Quote }}
        containerID: {{ printf "containerd://%s" .name | Quote }}
        name: {{ .name | Quote }}
        ready: true
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      hostIP: {{ NodeIP | Quote }}
      hostIPs:
      - ip: {{ NodeIP | Quote }}
      {{ $ip := "" }}
      {{ with .metadata.annotations }}{{ $ip = index . "POD_IP_ANNOTATION" }}{{ end }}
      {{ if $ip }}
      podIP: {{ $ip | Quote }}
      podIPs:
      - ip: {{ $ip | Quote }}
      {{ else }}
      {{ with PodIPsWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      - ip: {{ index . 0 | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: mesh-pod-delete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: Exists}
  next:
    delete: true
""".replace("POD_IP_ANNOTATION", POD_IP_ANNOTATION)
    pki.write(cdir(cluster, "kwok.yaml"), node_init.lstrip())


# ------------------------------------------------------------------ manifests
def obj(kind, name, ns=None, api="v1", labels=None, annotations=None, **rest):
    md = {"name": name}
    if ns:
        md["namespace"] = ns
    if labels:
        md["labels"] = labels
    if annotations:
        md["annotations"] = annotations
    o = {"apiVersion": api, "kind": kind, "metadata": md}
    o.update(rest)
    return o


def pod_template(cluster, w):
    labels = {"app": w["app"], "version": "v1"}
    ann = {POD_IP_ANNOTATION: f"{CLUSTERS[cluster]['pod_net']}.{w['idx']}"}
    containers = []
    for name in w["containers"]:
        c = {"name": name, "image": w["image"], "imagePullPolicy": "IfNotPresent"}
        if w["kind"] == "httpbin":
            c["ports"] = [{"containerPort": 8080, "name": "http"}]
        if w["kind"] == "istiod":
            c["args"] = ["discovery", "--monitoringAddr=:15014", "--log_output_level=default:info",
                         "--domain", "cluster.local", "--keepaliveMaxServerConnectionAge", "30m"]
            c["ports"] = [{"containerPort": p, "name": n} for n, p in
                          [("http-debug", 8080), ("grpc-xds", 15010), ("https-dns", 15012),
                           ("https-webhook", 15017)]]
        if w["kind"] in ("sleep", "notools"):
            c["command"] = ["/bin/sleep", "infinity"]
        containers.append(c)
    if w["sidecar"]:
        # What the injector would have added. The pod carries
        # sidecar.istio.io/inject=false so the injection webhooks (whose
        # endpoint is not reachable from the API server here) are never called
        # for our own pods; see docs/local-mesh.md "Injector".
        labels.update({"security.istio.io/tlsMode": "istio", "service.istio.io/canonical-name": w["app"],
                       "service.istio.io/canonical-revision": "v1", "sidecar.istio.io/inject": "false"})
        ann.update({"sidecar.istio.io/status": json.dumps({
            "initContainers": None, "containers": ["istio-proxy"], "volumes": ["istio-envoy", "istio-data",
                                                                               "istio-podinfo", "istio-token",
                                                                               "istiod-ca-cert"],
            "imagePullSecrets": None, "revision": "default"}, separators=(",", ":")),
            "prometheus.io/port": "15020", "prometheus.io/scrape": "true",
            # as the injector sets them: exec/logs default to the app container
            "kubectl.kubernetes.io/default-container": w["containers"][0],
            "kubectl.kubernetes.io/default-logs-container": w["containers"][0]})
        containers.append({"name": "istio-proxy", "image": "gcr.io/istio-release/proxyv2:1.20.3",
                           "args": ["proxy", "sidecar", "--domain", f"$(POD_NAMESPACE).svc.cluster.local",
                                    "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
                                    "--log_output_level=default:info"],
                           "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
                           "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {
                               "fieldPath": "metadata.namespace"}}},
                                   {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
                                   {"name": "TRUST_DOMAIN", "value": trust_domain(cluster)}]})
    elif w["kind"] in ("sleep", "notools"):
        labels["sidecar.istio.io/inject"] = "false"
    if w["kind"] == "istiod":
        labels.update({"istio": "pilot", "istio.io/rev": "default", "sidecar.istio.io/inject": "false"})
    spec = {"serviceAccountName": w["sa"], "nodeName": f"mesh-{cluster}-node-1", "containers": containers,
            "terminationGracePeriodSeconds": 0,
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]}
    return {"metadata": {"labels": labels, "annotations": ann}, "spec": spec}


def cmd_manifests(cluster, out=None):
    td = trust_domain(cluster)
    ca = pki.load_ca(cdir(cluster, "pki", "mesh-ca"))
    items = []
    for ns, labels in NAMESPACES.items():
        items.append(obj("Namespace", ns, labels=dict(labels, **({"topology.istio.io/network": f"net-{cluster}"}
                                                                 if ns == "istio-system" else {}))))
        items.append(obj("ConfigMap", "istio-ca-root-cert", ns, labels={"istio.io/config": "true"},
                         data={"root-cert.pem": ca["root"].pem}))
    for ns in ("default",):
        items.append(obj("ConfigMap", "istio-ca-root-cert", ns, labels={"istio.io/config": "true"},
                         data={"root-cert.pem": ca["root"].pem}))
    # --- istiod RBAC, named like the istio chart
    items.append(obj("ServiceAccount", "istiod", "istio-system", labels={"app": "istiod", "release": "istio"}))
    items.append(obj("ClusterRole", "istiod-clusterrole-istio-system", api="rbac.authorization.k8s.io/v1",
                     labels={"app": "istiod", "release": "istio"}, rules=[
                         {"apiGroups": ["admissionregistration.k8s.io"],
                          "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
                          "verbs": ["get", "list", "watch", "update", "patch"]},
                         {"apiGroups": ["config.istio.io", "security.istio.io", "networking.istio.io",
                                        "authentication.istio.io", "rbac.istio.io", "telemetry.istio.io",
                                        "extensions.istio.io"], "verbs": ["get", "watch", "list"],
                          "resources": ["*"]},
                         {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
                          "verbs": ["get", "list", "watch"]},
                         {"apiGroups": [""], "resources": ["pods", "nodes", "services", "namespaces",
                                                           "endpoints", "configmaps", "secrets"],
                          "verbs": ["get", "list", "watch"]},
                         {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                          "verbs": ["get", "list", "watch"]},
                         {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"],
                          "verbs": ["create"]},
                         {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"],
                          "verbs": ["create"]},
                         {"apiGroups": ["certificates.k8s.io"],
                          "resources": ["certificatesigningrequests", "certificatesigningrequests/approval",
                                        "certificatesigningrequests/status"],
                          "verbs": ["update", "create", "get", "delete", "watch"]}]))
    items.append(obj("ClusterRoleBinding", "istiod-clusterrole-istio-system", api="rbac.authorization.k8s.io/v1",
                     labels={"app": "istiod", "release": "istio"},
                     roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "istiod-clusterrole-istio-system"},
                     subjects=[{"kind": "ServiceAccount", "name": "istiod", "namespace": "istio-system"}]))
    # the limited viewer identity: may read, may not create pods/exec
    items.append(obj("ClusterRoleBinding", "mesh-viewer-view", api="rbac.authorization.k8s.io/v1",
                     roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                     subjects=[{"kind": "User", "name": "mesh-viewer", "apiGroup": "rbac.authorization.k8s.io"}]))
    # --- CA material as istiod keeps it
    if CLUSTERS[cluster]["ca"] == "istiod":
        items.append(obj("Secret", "istio-ca-secret", "istio-system", type="istio.io/ca-root",
                         data={"ca-cert.pem": b64(ca["signer"].pem), "ca-key.pem": b64(ca["signer"].key_pem),
                               "cert-chain.pem": "", "key.pem": "", "root-cert.pem": ""}))
    else:
        items.append(obj("Secret", "cacerts", "istio-system", type="Opaque",
                         data={"ca-cert.pem": b64(ca["signer"].pem), "ca-key.pem": b64(ca["signer"].key_pem),
                               "root-cert.pem": b64(ca["root"].pem),
                               "cert-chain.pem": b64(ca["signer"].pem + ca["root"].pem)}))
    # --- workloads
    for w in WORKLOADS:
        if w["sa"] != "default":
            items.append(obj("ServiceAccount", w["sa"], w["ns"]))
        items.append(obj("Deployment", w["app"], w["ns"], api="apps/v1", labels={"app": w["app"]}, spec={
            "replicas": 1, "selector": {"matchLabels": {"app": w["app"]}},
            "strategy": {"type": "Recreate"}, "template": pod_template(cluster, w)}))
        if w["svc"]:
            items.append(obj("Service", w["app"], w["ns"], labels={"app": w["app"], "service": w["app"]}, spec={
                "selector": {"app": w["app"]},
                "ports": [{"name": n, "port": p, "targetPort": t} for n, p, t in w["svc"]]}))
    for s in EXTRA_SERVICES:
        items.append(obj("Service", s["name"], s["ns"], labels={"app": s["name"]}, spec={
            "selector": {"app": s["name"]}, "ports": [{"name": "http", "port": s["port"]}]}))
    # --- Istio security objects
    items.append(obj("PeerAuthentication", "default", "istio-system", api="security.istio.io/v1",
                     spec={"mtls": {"mode": "PERMISSIVE"}}))
    items.append(obj("PeerAuthentication", "default", "sample", api="security.istio.io/v1",
                     spec={"mtls": {"mode": "STRICT"}}))
    items.append(obj("PeerAuthentication", "default", "permissive", api="security.istio.io/v1",
                     spec={"mtls": {"mode": "PERMISSIVE"}}))
    items.append(obj("AuthorizationPolicy", "deny-method-delete", "authz-ns", api="security.istio.io/v1",
                     spec={"selector": {"matchLabels": {"app": "httpbin"}}, "action": "DENY", "rules": [
                         {"to": [{"operation": {"methods": ["DELETE"]}}]},
                         {"to": [{"operation": {"paths": ["/status/418"]}}]}]}))
    items.append(obj("AuthorizationPolicy", "allow-get-only", "authz-ns", api="security.istio.io/v1",
                     spec={"selector": {"matchLabels": {"app": "httpbin"}}, "action": "ALLOW", "rules": [
                         {"to": [{"operation": {"methods": ["GET", "HEAD"]}}]}]}))
    # --- injector webhooks (caBundle = the mesh root, as istiod patches it)
    items.extend(webhooks(cluster, b64(ca["root"].pem)))
    data = {"apiVersion": "v1", "kind": "List", "items": items}
    if out:
        write_json(out, data)
    else:
        print(json.dumps(data, indent=1))


def webhooks(cluster, ca_bundle):
    def hook(name, ns_sel, obj_sel, path="/inject"):
        return {"name": name, "admissionReviewVersions": ["v1beta1", "v1"], "sideEffects": "None",
                "failurePolicy": "Fail", "reinvocationPolicy": "Never", "timeoutSeconds": 10,
                "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system", "path": path,
                                             "port": 443}, "caBundle": ca_bundle},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                           "resources": ["pods"], "scope": "*"}],
                "namespaceSelector": ns_sel, "objectSelector": obj_sel, "matchPolicy": "Equivalent"}
    ex = lambda k, op, v=None: dict({"key": k, "operator": op}, **({"values": v} if v else {}))  # noqa: E731
    main = obj("MutatingWebhookConfiguration", "istio-sidecar-injector",
               api="admissionregistration.k8s.io/v1",
               labels={"app": "sidecar-injector", "istio.io/rev": "default", "release": "istio"},
               webhooks=[
                   hook("rev.namespace.sidecar-injector.istio.io",
                        {"matchExpressions": [ex("istio.io/rev", "In", ["default"]),
                                              ex("istio-injection", "DoesNotExist")]},
                        {"matchExpressions": [ex("sidecar.istio.io/inject", "NotIn", ["false"])]}),
                   hook("rev.object.sidecar-injector.istio.io",
                        {"matchExpressions": [ex("istio.io/rev", "DoesNotExist"),
                                              ex("istio-injection", "DoesNotExist")]},
                        {"matchExpressions": [ex("sidecar.istio.io/inject", "NotIn", ["false"]),
                                              ex("istio.io/rev", "In", ["default"])]}),
                   hook("namespace.sidecar-injector.istio.io",
                        {"matchExpressions": [ex("istio-injection", "In", ["enabled"])]},
                        {"matchExpressions": [ex("sidecar.istio.io/inject", "NotIn", ["false"])]}),
                   hook("object.sidecar-injector.istio.io",
                        {"matchExpressions": [ex("istio-injection", "DoesNotExist"),
                                              ex("istio.io/rev", "DoesNotExist")]},
                        {"matchExpressions": [ex("sidecar.istio.io/inject", "In", ["true"]),
                                              ex("istio.io/rev", "DoesNotExist")]}),
               ])
    out = [main]
    if cluster == "west":
        # a revisioned (ASM-style) install next to the default one
        rev = obj("MutatingWebhookConfiguration", "istio-sidecar-injector-asm-1-20",
                  api="admissionregistration.k8s.io/v1",
                  labels={"app": "sidecar-injector", "istio.io/rev": "asm-1-20", "release": "istio"},
                  webhooks=[hook("rev.namespace.sidecar-injector.istio.io",
                                 {"matchExpressions": [ex("istio.io/rev", "In", ["asm-1-20"]),
                                                       ex("istio-injection", "DoesNotExist")]},
                                 {"matchExpressions": [ex("sidecar.istio.io/inject", "NotIn", ["false"])]},
                                 "/inject/cluster/mesh-west/net/net-west"),
                            hook("rev.object.sidecar-injector.istio.io",
                                 {"matchExpressions": [ex("istio.io/rev", "DoesNotExist"),
                                                       ex("istio-injection", "DoesNotExist")]},
                                 {"matchExpressions": [ex("sidecar.istio.io/inject", "NotIn", ["false"]),
                                                       ex("istio.io/rev", "In", ["asm-1-20"])]},
                                 "/inject/cluster/mesh-west/net/net-west")])
        out.append(rev)
    return out


# ------------------------------------------------------------------ processes
def pidfile(name):
    return os.path.join(RUN_DIR, name + ".pid")


def alive(name):
    p = pidfile(name)
    if not os.path.exists(p):
        return None
    try:
        pid = int(open(p).read().split()[0])
        os.kill(pid, 0)
        if open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            return None
        return pid
    except (ValueError, ProcessLookupError, FileNotFoundError, PermissionError):
        return None


def start(name, argv, env=None, restart=False):
    """Start argv in its own session with output in logs/NAME.log; no-op if running."""
    os.makedirs(RUN_DIR, exist_ok=True)
    os.makedirs(LOG_DIR, exist_ok=True)
    pid = alive(name)
    if pid and not restart:
        return pid
    if pid:
        stop_one(name)
    logf = open(os.path.join(LOG_DIR, name + ".log"), "a")
    logf.write(f"==== {dt.datetime.now().isoformat()} starting: {' '.join(argv)}\n")
    logf.flush()
    p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=dict(os.environ, **(env or {})))
    pki.write(pidfile(name), f"{p.pid}\n")
    return p.pid


def stop_one(name, grace=5.0):
    pid = alive(name)
    if pid:
        try:
            os.killpg(pid, signal.SIGTERM)  # own session: its children go too
        except ProcessLookupError:
            pass
        end = time.time() + grace
        while time.time() < end and alive(name):
            time.sleep(0.1)
        if alive(name):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if os.path.exists(pidfile(name)):
        os.remove(pidfile(name))


def cmd_stop(prefix=""):
    if not os.path.isdir(RUN_DIR):
        return
    names = [f[:-4] for f in os.listdir(RUN_DIR) if f.endswith(".pid") and f.startswith(prefix)]
    # per-pod processes first, then kwok, controller-manager, apiserver, etcd
    order = lambda n: (["kwok", "kcm", "apiserver", "etcd"].index(n.split("-", 1)[1])  # noqa: E731
                       if n.split("-", 1)[-1] in ("kwok", "kcm", "apiserver", "etcd") else -1)
    for n in sorted(names, key=order):
        stop_one(n)


# ------------------------------------------------------------------ istio policy -> envoy
def policies(cluster):
    pa = json.loads(kubectl(cluster, "get", "peerauthentications.security.istio.io", "-A", "-o", "json"))["items"]
    ap = json.loads(kubectl(cluster, "get", "authorizationpolicies.security.istio.io", "-A", "-o", "json"))["items"]
    return pa, ap


def selects(policy, w):
    sel = (policy.get("spec") or {}).get("selector")
    if not sel:
        return True
    return all(w_labels(w).get(k) == v for k, v in (sel.get("matchLabels") or {}).items())


def w_labels(w):
    return {"app": w["app"], "version": "v1"}


def mtls_mode(pas, w, port):
    """Istio precedence: workload (port-level first) > namespace > mesh root; UNSET inherits."""
    def mode_of(p):
        spec = p.get("spec") or {}
        plm = (spec.get("portLevelMtls") or {}).get(str(port))
        if plm and plm.get("mode", "UNSET") != "UNSET":
            return plm["mode"]
        return (spec.get("mtls") or {}).get("mode", "UNSET")
    ordered = ([p for p in pas if p["metadata"]["namespace"] == w["ns"] and (p.get("spec") or {}).get("selector")
                and selects(p, w)] +
               [p for p in pas if p["metadata"]["namespace"] == w["ns"] and not (p.get("spec") or {}).get("selector")] +
               [p for p in pas if p["metadata"]["namespace"] == "istio-system" and
                not (p.get("spec") or {}).get("selector")])
    for p in ordered:
        m = mode_of(p)
        if m and m != "UNSET":
            return m
    return "PERMISSIVE"


def string_match(v):
    if v == "*":
        return {"safe_regex": {"regex": ".+"}}
    if v.endswith("*"):
        return {"prefix": v[:-1]}
    if v.startswith("*"):
        return {"suffix": v[1:]}
    return {"exact": v}


def any_of(items):
    return items[0] if len(items) == 1 else {"or_rules": {"rules": items}}


def rule_to_rbac(rule, td):
    perms, princs = [], []
    for to in rule.get("to") or []:
        op = to.get("operation") or {}
        parts = []
        if op.get("methods"):
            parts.append(any_of([{"header": {"name": ":method", "string_match": {"exact": m}}} for m in op["methods"]]))
        if op.get("paths"):
            parts.append(any_of([{"url_path": {"path": string_match(p)}} for p in op["paths"]]))
        if op.get("notMethods"):
            parts.append({"not_rule": any_of([{"header": {"name": ":method", "string_match": {"exact": m}}}
                                              for m in op["notMethods"]])})
        if op.get("notPaths"):
            parts.append({"not_rule": any_of([{"url_path": {"path": string_match(p)}} for p in op["notPaths"]])})
        if op.get("ports"):
            parts.append(any_of([{"destination_port": int(p)} for p in op["ports"]]))
        perms.append({"and_rules": {"rules": parts}} if parts else {"any": True})
    for fr in rule.get("from") or []:
        src = fr.get("source") or {}
        parts = []
        if src.get("principals"):
            parts.append(any_of([{"authenticated": {"principal_name": string_match(
                p if p == "*" else "spiffe://" + p)}} for p in src["principals"]]))
        if src.get("namespaces"):
            parts.append(any_of([{"authenticated": {"principal_name": {"safe_regex": {
                "regex": ".*/ns/" + re.escape(n) + "/.*"}}}} for n in src["namespaces"]]))
        if src.get("notPrincipals"):
            parts.append({"not_id": any_of([{"authenticated": {"principal_name": string_match(
                "spiffe://" + p)}} for p in src["notPrincipals"]])})
        if src.get("notNamespaces"):
            parts.append({"not_id": any_of([{"authenticated": {"principal_name": {"safe_regex": {
                "regex": ".*/ns/" + re.escape(n) + "/.*"}}}} for n in src["notNamespaces"]])})
        princs.append({"and_ids": {"ids": parts}} if parts else {"any": True})
    return {"permissions": [any_of(perms)] if perms else [{"any": True}],
            "principals": [any_of(princs)] if princs else [{"any": True}]}


def rbac_filters(aps, w, td):
    """Envoy RBAC http filters for a workload, DENY before ALLOW, named like istiod does."""
    mine = [a for a in aps if (a["metadata"]["namespace"] in (w["ns"], "istio-system")) and selects(a, w)]
    out = []
    for action in ("DENY", "ALLOW"):
        pols = {}
        have = False
        for a in sorted(mine, key=lambda a: (a["metadata"]["namespace"], a["metadata"]["name"])):
            spec = a.get("spec") or {}
            if spec.get("action", "ALLOW") != action:
                continue
            have = True
            ns, name = a["metadata"]["namespace"], a["metadata"]["name"]
            for i, rule in enumerate(spec.get("rules") or []):
                pols[f"ns[{ns}]-policy[{name}]-rule[{i}]"] = rule_to_rbac(rule or {}, td)
        if have:
            out.append({"name": "envoy.filters.http.rbac", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                "rules": {"action": action, "policies": pols}}})
    return out


# The file is read by kwok as a container log, so each line starts with the
# CRI log prefix (TIME stdout F); `kubectl logs` strips it and shows exactly
# Istio's default TEXT access log format.
CRI_PREFIX = "%START_TIME(%Y-%m-%dT%H:%M:%S.%6fZ)% stdout F "
ACCESS_LOG_FORMAT = CRI_PREFIX + ('[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
                     '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% '
                     '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
                     '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
                     '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% '
                     '%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% '
                     '%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n')


def access_log(path, nr_only=False):
    al = {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": path, "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}}}}
    if nr_only:
        al["filter"] = {"response_flag_filter": {"flags": ["NR"]}}
    return al


def sds(name):
    return {"name": name, "sds_config": {"path_config_source": {"path": f"SDSDIR/{name}.json",
                                                                "watched_directory": {"path": "SDSDIR"}},
                                         "resource_api_version": "V3"}}


def tls_socket(kind, ctx):
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": f"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.{kind}", **ctx}}


def hcm(stat, route_config, filters, log_path, fcc=False):
    h = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
         "stat_prefix": stat, "codec_type": "AUTO", "route_config": route_config,
         "http_filters": filters + [{"name": "envoy.filters.http.router", "typed_config": {
             "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
         "access_log": [access_log(log_path)], "use_remote_address": False,
         "normalize_path": True, "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
         "server_name": "istio-envoy", "stream_idle_timeout": "0s"}
    if fcc:
        h["forward_client_cert_details"] = "APPEND_FORWARD"
        h["set_current_client_cert_details"] = {"subject": True, "uri": True, "dns": True}
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": h}


def envoy_config(cluster, w, pas, aps, pod_ip, local_ip):
    td = trust_domain(cluster)
    d = pod_dir(cluster, w)
    alog = os.path.join(d, "istio-proxy.log")
    listeners, clusters = [], []
    # ---- inbound: one listener per service port on the pod IP (stand-in for
    # iptables redirecting to 15006; the listener name keeps Istio's style)
    for pname, port, target in w["svc"]:
        mode = mtls_mode(pas, w, target)
        icluster = f"inbound|{target}||"
        clusters.append({"name": icluster, "type": "STATIC", "connect_timeout": "10s",
                         # Istio's inbound passthrough source address
                         "upstream_bind_config": {"source_address": {"address": "127.0.0.6", "port_value": 0}},
                         "load_assignment": {"cluster_name": icluster, "endpoints": [{"lb_endpoints": [
                             {"endpoint": {"address": {"socket_address": {"address": local_ip,
                                                                           "port_value": target}}}}]}]}})
        route = {"name": icluster, "validate_clusters": False, "virtual_hosts": [{
            "name": f"inbound|http|{port}", "domains": ["*"],
            "routes": [{"name": "default", "match": {"prefix": "/"},
                        "route": {"cluster": icluster, "timeout": "0s", "max_stream_duration": {
                            "max_stream_duration": "0s", "grpc_timeout_header_max": "0s"}}, "decorator": {
                            "operation": f"{w['app']}.{w['ns']}.svc.cluster.local:{port}/*"}}]}]}
        rbac = rbac_filters(aps, w, td)
        chains = []
        if mode in ("STRICT", "PERMISSIVE"):
            chains.append({
                "name": f"0.0.0.0_{target}", "filter_chain_match": {
                    "transport_protocol": "tls", "application_protocols": ISTIO_ALPNS},
                "filters": [hcm(f"inbound_0.0.0.0_{target}", route, rbac, alog, fcc=True)],
                "transport_socket": tls_socket("DownstreamTlsContext", {
                    "require_client_certificate": True,
                    "common_tls_context": {
                        "alpn_protocols": ["h2", "http/1.1"],
                        "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                        "tls_certificate_sds_secret_configs": [sds("default")],
                        "combined_validation_context": {
                            "default_validation_context": {"match_typed_subject_alt_names": [
                                {"san_type": "URI", "matcher": {"prefix": "spiffe://"}}]},
                            "validation_context_sds_secret_config": sds("ROOTCA")}}})})
        if mode in ("PERMISSIVE", "DISABLE"):
            chains.append({"name": f"0.0.0.0_{target}_plaintext",
                           "filter_chain_match": {"transport_protocol": "raw_buffer"},
                           "filters": [hcm(f"inbound_0.0.0.0_{target}", route, rbac, alog)]})
        listeners.append({"name": f"virtualInbound_{port}", "address": {"socket_address": {
            "address": pod_ip, "port_value": port}}, "listener_filters": [
            {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}],
            "listener_filters_timeout": "1s", "continue_on_listener_filters_timeout": True,
            "filter_chains": chains, "access_log": [access_log(alog, nr_only=True)],
            "metadata": {"filter_metadata": {"asm-mesh": {"mtls_mode": mode}}}})
    # ---- outbound: HTTP proxy listener used as the pod's egress
    vhosts = []
    for dst in WORKLOADS:
        for pname, port, target in dst["svc"]:
            fq = f"{dst['app']}.{dst['ns']}.svc.cluster.local"
            cname = f"outbound|{port}||{fq}"
            dst_ip = f"{CLUSTERS[cluster]['pod_net']}.{dst['idx']}"
            c = {"name": cname, "type": "STATIC", "connect_timeout": "10s",
                 # connections leave from the pod's own IP, as in a pod netns
                 "upstream_bind_config": {"source_address": {"address": pod_ip, "port_value": 0}},
                 "load_assignment": {"cluster_name": cname, "endpoints": [{"lb_endpoints": [
                     {"endpoint": {"address": {"socket_address": {"address": dst_ip, "port_value": port}}}}]}]}}
            if dst["sidecar"]:
                # auto mTLS: the destination has a sidecar, originate Istio mTLS
                c["transport_socket"] = tls_socket("UpstreamTlsContext", {
                    "sni": f"outbound_.{port}_._.{fq}",
                    "common_tls_context": {
                        "alpn_protocols": ["istio-peer-exchange", "istio"],
                        "tls_certificate_sds_secret_configs": [sds("default")],
                        "combined_validation_context": {
                            "default_validation_context": {"match_typed_subject_alt_names": [
                                {"san_type": "URI", "matcher": {"exact": f"spiffe://{td}/ns/{dst['ns']}/sa/{dst['sa']}"}}]},
                            "validation_context_sds_secret_config": sds("ROOTCA")}}})
            clusters.append(c)
            vhosts.append(vhost(fq, port, dst["ns"] == w["ns"], cname))
    for s in EXTRA_SERVICES:
        fq = f"{s['name']}.{s['ns']}.svc.cluster.local"
        cname = f"outbound|{s['port']}||{fq}"
        clusters.append({"name": cname, "type": "STATIC", "connect_timeout": "10s",
                         "upstream_bind_config": {"source_address": {"address": pod_ip, "port_value": 0}},
                         "load_assignment": {"cluster_name": cname, "endpoints": [{"lb_endpoints": [
                             {"endpoint": {"address": {"socket_address": {
                                 "address": f"{CLUSTERS[cluster]['pod_net']}.{s['idx']}",
                                 "port_value": s["port"]}}}}]}]}})
        vhosts.append(vhost(fq, s["port"], s["ns"] == w["ns"], cname))
    vhosts.append({"name": "allow_any", "domains": ["*"], "routes": [{"name": "allow_any", "match": {"prefix": "/"},
                                                                      "direct_response": {"status": 502, "body": {
                                                                          "inline_string": "no mesh route for this host\n"}}}]})
    listeners.append({"name": "0.0.0.0_15001", "address": {"socket_address": {"address": local_ip,
                                                                              "port_value": 15001}},
                      "filter_chains": [{"filters": [hcm("outbound_0.0.0.0_15001", {
                          "name": "http_proxy", "validate_clusters": False, "virtual_hosts": vhosts}, [], alog)]}]})
    return listeners, clusters


def vhost(fq, port, same_ns, cname):
    svc, ns = fq.split(".")[:2]
    names = [fq, f"{svc}.{ns}.svc", f"{svc}.{ns}"] + ([svc] if same_ns else [])
    domains = []
    for n in names:
        # like Istio: the bare name only for port 80 (what a Host header
        # without a port means); otherwise NAME:PORT
        domains += [n, f"{n}:{port}"] if port == 80 else [f"{n}:{port}"]
    return {"name": f"{fq}:{port}", "domains": domains, "routes": [{
        "name": "default", "match": {"prefix": "/"},
        "route": {"cluster": cname, "timeout": "0s", "retry_policy": {
            "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
            "num_retries": 2, "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                                                         "typed_config": {
                                                             "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
            "host_selection_retry_max_attempts": "5", "retriable_status_codes": [503]}},
        "decorator": {"operation": f"{fq}:{port}/*"}}]}


def write_envoy(cluster, w, pas, aps):
    d = pod_dir(cluster, w)
    pod_ip = f"{CLUSTERS[cluster]['pod_net']}.{w['idx']}"
    local_ip = f"{CLUSTERS[cluster]['local_net']}.{w['idx']}"
    cfg = os.path.join(d, "envoy")
    sdsdir = os.path.join(cfg, "sds")
    os.makedirs(sdsdir, exist_ok=True)
    certs = ensure_workload_cert(cluster, w)
    listeners, clusters = envoy_config(cluster, w, pas, aps, pod_ip, local_ip)
    fix = lambda o: json.loads(json.dumps(o).replace("SDSDIR", sdsdir))  # noqa: E731
    changed = False
    for name, kind, res in [("lds", "envoy.config.listener.v3.Listener", listeners),
                            ("cds", "envoy.config.cluster.v3.Cluster", clusters)]:
        body = json.dumps({"version_info": hashlib.sha1(json.dumps(res).encode()).hexdigest()[:12],
                           "resources": [dict({"@type": f"type.googleapis.com/{kind}"}, **r) for r in fix(res)]},
                          indent=1)
        p = os.path.join(cfg, f"{name}.json")
        if not os.path.exists(p) or open(p).read() != body:
            pki.write(p, body)  # write+rename: Envoy's watched_directory sees the move
            changed = True
    secrets = {
        "default": {"name": "default", "tls_certificate": {
            "certificate_chain": {"filename": os.path.join(certs, "cert-chain.pem")},
            "private_key": {"filename": os.path.join(certs, "key.pem")}}},
        "ROOTCA": {"name": "ROOTCA", "validation_context": {
            "trusted_ca": {"filename": os.path.join(certs, "root-cert.pem")}}},
    }
    for n, s in secrets.items():
        body = json.dumps({"resources": [dict({"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"}, **s)]})
        p = os.path.join(sdsdir, f"{n}.json")
        if not os.path.exists(p) or open(p).read() != body:
            pki.write(p, body)
    boot = {"node": {"id": f"sidecar~{pod_ip}~{w['app']}.{w['ns']}~{w['ns']}.svc.cluster.local",
                     "cluster": f"{w['app']}.{w['ns']}", "metadata": {"NAMESPACE": w["ns"], "MESH_ID": "cluster.local",
                                                                       "CLUSTER_ID": f"mesh-{cluster}"}},
            "admin": {"address": {"socket_address": {"address": local_ip, "port_value": 15000}},
                      "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
                          "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                          "path": "/dev/null"}}]},
            "dynamic_resources": {
                "lds_config": {"path_config_source": {"path": os.path.join(cfg, "lds.json"),
                                                      "watched_directory": {"path": cfg}},
                               "resource_api_version": "V3"},
                "cds_config": {"path_config_source": {"path": os.path.join(cfg, "cds.json"),
                                                      "watched_directory": {"path": cfg}},
                               "resource_api_version": "V3"}}}
    pki.write(os.path.join(cfg, "bootstrap.json"), json.dumps(boot, indent=1))
    return cfg, changed


# ------------------------------------------------------------------ sync (mini istiod)
def hosts_file(cluster):
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback",
             "# kubectl-asm local mesh: Service names -> loopback pod addresses"]
    net = CLUSTERS[cluster]["pod_net"]
    for w in WORKLOADS:
        if w["svc"]:
            fq = f"{w['app']}.{w['ns']}"
            lines.append(f"{net}.{w['idx']} {fq}.svc.cluster.local {fq}.svc {fq}")
    for s in EXTRA_SERVICES:
        fq = f"{s['name']}.{s['ns']}"
        lines.append(f"{net}.{s['idx']} {fq}.svc.cluster.local {fq}.svc {fq}")
    pki.write(cdir(cluster, "hosts"), "\n".join(lines) + "\n")
    # Unknown names must fail fast and never reach a real resolver: point
    # resolv.conf at a loopback address where nothing listens.
    pki.write(cdir(cluster, "resolv.conf"),
              "nameserver 127.0.9.53\nsearch sample.svc.cluster.local svc.cluster.local cluster.local\n"
              "options timeout:1 attempts:1 ndots:5\n")


def curl_wrapper(path):
    pki.write(path, r"""#!/bin/sh
# kubectl-asm local mesh: stand-in for the sidecar's iptables capture.
# A meshed pod's plain http:// requests go through its istio-proxy (Envoy's
# egress listener, $ASM_POD_PROXY) - but only when the name resolves, so an
# unknown host still fails the way it does in a pod (curl: (6)).
url=""
for a in "$@"; do case "$a" in http://*) url="$a"; break;; esac; done
if [ -n "$url" ] && [ -n "$ASM_POD_PROXY" ]; then
  hp="${url#http://}"; hp="${hp%%/*}"; hp="${hp##*@}"; host="${hp%%:*}"
  if getent hosts "$host" >/dev/null 2>&1; then
    exec /usr/bin/curl --proxy "$ASM_POD_PROXY" "$@"
  fi
fi
exec /usr/bin/curl "$@"
""", 0o755)


def notools_bin(d):
    os.makedirs(d, exist_ok=True)
    for tool in ("sh", "cat", "ls", "sleep", "env", "echo"):
        src = f"/bin/{tool}" if os.path.exists(f"/bin/{tool}") else f"/usr/bin/{tool}"
        dst = os.path.join(d, tool)
        if not os.path.lexists(dst):
            os.symlink(src, dst)


def kwok_objects(cluster, w, pod):
    d = pod_dir(cluster, w)
    local_ip = f"{CLUSTERS[cluster]['local_net']}.{w['idx']}"
    base_env = [{"name": "HOME", "value": os.path.join(d, "home")}, {"name": "HOSTNAME", "value": pod},
                {"name": "POD_NAME", "value": pod}, {"name": "POD_NAMESPACE", "value": w["ns"]}]
    os.makedirs(os.path.join(d, "home"), exist_ok=True)
    execs, logs, fwds = [], [], []
    for c in w["containers"]:
        env = list(base_env)
        if w["kind"] == "notools":
            notools_bin(os.path.join(d, "bin-app"))
            env.append({"name": "PATH", "value": os.path.join(d, "bin-app")})
        elif w["sidecar"]:
            curl_wrapper(os.path.join(d, f"bin-{c}", "curl"))
            env += [{"name": "PATH", "value": os.path.join(d, f"bin-{c}") + ":" + STD_PATH},
                    {"name": "ASM_POD_PROXY", "value": f"http://{local_ip}:15001"}]
        else:
            env.append({"name": "PATH", "value": STD_PATH})
        execs.append({"containers": [c], "local": {"workDir": os.path.join(d, "home"), "envs": env}})
        lf = os.path.join(d, f"{c}.log")
        if not os.path.exists(lf):
            pki.write(lf, "")
        logs.append({"containers": [c], "logsFile": lf, "follow": True})
    if w["sidecar"]:
        execs.append({"containers": ["istio-proxy"], "local": {"workDir": os.path.join(d, "home"), "envs": base_env + [
            {"name": "PATH", "value": STD_PATH}]}})
        lf = os.path.join(d, "istio-proxy.log")
        if not os.path.exists(lf):
            pki.write(lf, "")
        logs.append({"containers": ["istio-proxy"], "logsFile": lf, "follow": True})
        fwds.append({"ports": [15000], "target": {"address": local_ip, "port": 15000}})
    if w["kind"] == "httpbin":
        fwds.append({"ports": [8080], "target": {"address": local_ip, "port": 8080}})
    if w["kind"] == "istiod":
        for p in (15010, 15012, 15017):
            fwds.append({"ports": [p], "target": {"address": local_ip, "port": p}})
    api = "kwok.x-k8s.io/v1alpha1"
    out = [obj("Exec", pod, w["ns"], api=api, spec={"execs": execs}),
           obj("Logs", pod, w["ns"], api=api, spec={"logs": logs})]
    if fwds:
        out.append(obj("PortForward", pod, w["ns"], api=api, spec={"forwards": fwds}))
    return out


def start_pod_processes(cluster, w, pas, aps):
    d = pod_dir(cluster, w)
    local_ip = f"{CLUSTERS[cluster]['local_net']}.{w['idx']}"
    pod_ip = f"{CLUSTERS[cluster]['pod_net']}.{w['idx']}"
    tag = f"{cluster}-pod-{w['ns']}-{w['app']}"
    if w["kind"] == "httpbin":
        # the app container's log is what go-httpbin prints, in CRI framing
        start(tag + "-httpbin", [sys.executable, os.path.join(os.path.dirname(__file__), "aux_servers.py"), "cri",
                                 os.path.join(d, "httpbin.log"), os.path.join(CACHE_BIN, "go-httpbin"),
                                 "-host", local_ip, "-port", "8080"])
    if w["kind"] == "istiod":
        ist = cdir(cluster, "pki", "istiod-serving")
        start(tag + "-tls", [sys.executable, os.path.join(os.path.dirname(__file__), "aux_servers.py"), "tls",
                             f"{local_ip}:15017,{local_ip}:15012,{pod_ip}:15017,{pod_ip}:15012,{pod_ip}:443",
                             os.path.join(ist, "cert-chain.pem"), os.path.join(ist, "key.pem")])
    if w["sidecar"]:
        cfg, _ = write_envoy(cluster, w, pas, aps)
        # Certificate files changed (scenario, trust domain)? Envoy does not
        # reliably notice files rewritten under an SDS secret, so restart it,
        # like a pod getting a new identity.
        certs = os.path.join(d, "certs")
        h = hashlib.sha1(b"".join(open(os.path.join(certs, f), "rb").read()
                                  for f in ("cert-chain.pem", "key.pem", "root-cert.pem"))).hexdigest()
        hf = os.path.join(cfg, "certs.sha1")
        old = open(hf).read() if os.path.exists(hf) else ""
        pki.write(hf, h)
        start(tag + "-envoy", [os.path.join(CACHE_BIN, "envoy"), "-c", os.path.join(cfg, "bootstrap.json"),
                               "--disable-hot-restart", "--concurrency", "1", "-l", "warning",
                               # access log lines reach the file within 0.2 s (default 10 s)
                               "--file-flush-interval-msec", "200",
                               "--service-cluster", f"{w['app']}.{w['ns']}",
                               "--service-node", f"sidecar~{pod_ip}~{w['app']}.{w['ns']}"],
              restart=bool(old) and old != h)


def start_extra(cluster):
    net = CLUSTERS[cluster]["pod_net"]
    for s in EXTRA_SERVICES:
        if s["name"] == "blackhole":
            start(f"{cluster}-svc-blackhole", [sys.executable, os.path.join(os.path.dirname(__file__),
                                                                             "aux_servers.py"),
                                                "blackhole", f"{net}.{s['idx']}:{s['port']}"])


def current_pods(cluster):
    items = json.loads(kubectl(cluster, "get", "pods", "-A", "-o", "json"))["items"]
    out = {}
    for p in items:
        if p["metadata"].get("deletionTimestamp"):
            continue
        key = (p["metadata"]["namespace"], p["metadata"].get("labels", {}).get("app"))
        out[key] = p["metadata"]["name"]
    return out


def sync_once(cluster, state):
    pods = current_pods(cluster)
    pas, aps = policies(cluster)
    objs = []
    for w in WORKLOADS:
        pod = pods.get((w["ns"], w["app"]))
        if not pod:
            continue
        start_pod_processes(cluster, w, pas, aps)
        objs += kwok_objects(cluster, w, pod)
    start_extra(cluster)
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
    if body != state.get("kwok"):
        kubectl(cluster, "apply", "--server-side", "--force-conflicts", "--field-manager=asm-mesh", "-f", "-",
                input=body)
        state["kwok"] = body
    return len([w for w in WORKLOADS if (w["ns"], w["app"]) in pods])


def cmd_sync(cluster, watch=False):
    hosts_file(cluster)
    state = {}
    n = sync_once(cluster, state)
    if not watch:
        print(f"synced {n} pods in mesh-{cluster}")
        return
    while True:
        time.sleep(2)
        try:
            sync_once(cluster, state)
        except SystemExit as e:  # API hiccup: log and keep going
            print(f"sync error: {e}", flush=True)


# ------------------------------------------------------------------ istiod logs
TS_TEXT = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z)")
TS_JSON = re.compile(r'"time":"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z)"')
TS_KLOG = re.compile(r"^([IWEF])(\d{4} \d{2}:\d{2}:\d{2}\.\d{6})")


def cmd_istiod_log(cluster, kind):
    """Copy a fixture istiod log into the istiod pod's log file, shifting its
    timestamps so that the last line is 'now' (kubectl logs --since works)."""
    src = os.path.join(FIXTURES, "istiod-logs", f"{kind}.log")
    lines = open(src).read().splitlines()
    stamps = []
    for ln in lines:
        m = TS_TEXT.search(ln) or TS_JSON.search(ln)
        if m:
            stamps.append(dt.datetime.strptime(m.group(1)[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ"))
    shift = (dt.datetime.utcnow() - max(stamps)) if stamps else dt.timedelta(0)

    def fix_iso(m):
        t = dt.datetime.strptime(m.group(1)[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ") + shift
        return m.group(0).replace(m.group(1), t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

    def fix_klog(m):
        year = (dt.datetime.utcnow()).year
        t = dt.datetime.strptime(f"{year}{m.group(2)}", "%Y%m%d %H:%M:%S.%f") + shift
        return m.group(1) + t.strftime("%m%d %H:%M:%S.%f")
    out = []
    last = dt.datetime.utcnow() - dt.timedelta(minutes=5)
    for ln in lines:
        ln = TS_TEXT.sub(fix_iso, ln)
        ln = TS_JSON.sub(fix_iso, ln)
        ln = TS_KLOG.sub(fix_klog, ln)
        m = TS_TEXT.search(ln) or TS_JSON.search(ln)
        if m:
            last = dt.datetime.strptime(m.group(1)[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ")
        # CRI container-log framing, as the kubelet stores it (kwok reads it)
        out.append(last.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + " stderr F " + ln)
    w = next(x for x in WORKLOADS if x["kind"] == "istiod")
    pki.write(os.path.join(pod_dir(cluster, w), "discovery.log"), "\n".join(out) + "\n")


def main(argv):
    if not argv:
        sys.exit(__doc__)
    c, rest = argv[0], argv[1:]
    if c == "pki":
        cmd_pki(rest[0])
    elif c == "kubeconfig":
        cmd_kubeconfig()
    elif c == "kwok-config":
        cmd_kwok_config(rest[0])
    elif c == "manifests":
        cmd_manifests(rest[0], rest[1] if len(rest) > 1 else None)
    elif c == "start":
        i = rest.index("--")
        print(start(rest[0], rest[i + 1:]))
    elif c == "alive":
        sys.exit(0 if alive(rest[0]) else 1)
    elif c == "sync":
        cmd_sync(rest[0], watch="--watch" in rest)
    elif c == "istiod-log":
        cmd_istiod_log(rest[0], rest[1])
    elif c == "expired-cert":
        # scenario helper: give workload NS/APP an expired leaf (same identity)
        w = next(x for x in WORKLOADS if x["ns"] == rest[1] and x["app"] == rest[2])
        d = os.path.join(pod_dir(rest[0], w), "certs")
        ca = pki.load_ca(cdir(rest[0], "pki", "mesh-ca"))
        pki.workload_cert(ca, CLUSTERS[rest[0]]["ca"], trust_domain(rest[0]), w["ns"], w["sa"], d,
                          not_before=pki.NOW - dt.timedelta(days=3))
        pki.write(os.path.join(d, "identity"), "scenario:expired")  # baseline restores a valid one
    elif c == "stop":
        cmd_stop(rest[0] if rest else "")
    else:
        sys.exit(f"unknown command {c}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])
