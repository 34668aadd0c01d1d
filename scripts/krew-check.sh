#!/usr/bin/env bash
# Check the krew distribution for real: build the release archives and filled manifests (scripts/release.sh),
# validate each manifest with krew's own validator, then install each plugin with a real krew into a
# throw-away KREW_ROOT (from the local archive: no download) and run it through a real kubectl.
#
#   scripts/krew-check.sh [--profile dev|release]   (default dev: same archive shape, faster build)
#
# The validator and krew are built from the sigs.k8s.io/krew Go module into the versioned cache.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=dev
[ "${1:-}" = --profile ] && profile="$2"
KREW_VERSION=v0.4.3
cache="${ASM_CACHE_DIR:-$HOME/.cache/kubectl-asm/v1}"
bin="$cache/bin"
mkdir -p "$bin"
for tool in validate-krew-manifest krew; do
  stamp="$cache/stamps/$tool-$KREW_VERSION"
  if [ ! -x "$bin/$tool" ] || [ ! -f "$stamp" ]; then
    echo "building $tool $KREW_VERSION from the sigs.k8s.io/krew Go module"
    GOBIN="$bin" GOFLAGS=-mod=mod go install "sigs.k8s.io/krew/cmd/$tool@$KREW_VERSION"
    mkdir -p "$cache/stamps" && touch "$stamp"
  fi
done
kubectl_bin="$bin/kubectl"
[ -x "$kubectl_bin" ] || kubectl_bin=$(command -v kubectl)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash scripts/release.sh --out "$work/dist" --profile "$profile" >/dev/null
mkdir -p "$work/path"
ln -s "$bin/krew" "$work/path/kubectl-krew"
export KREW_ROOT="$work/krew"
passed=0
for manifest in "$work"/dist/krew/*.yaml; do
  plugin=$(basename "$manifest" .yaml)
  "$bin/validate-krew-manifest" -manifest "$manifest" -skip-install 2>"$work/validate.log" \
    || { cat "$work/validate.log" >&2; echo "krew-check: $plugin manifest is invalid" >&2; exit 1; }
  archive=$(ls "$work"/dist/kubectl-"$plugin"_v*_linux_amd64.tar.gz)
  PATH="$work/path:$PATH" "$kubectl_bin" krew install --manifest="$manifest" --archive="$archive" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log" >&2; echo "krew-check: krew could not install $plugin" >&2; exit 1; }
  out=$(PATH="$KREW_ROOT/bin:$PATH" "$kubectl_bin" "$plugin" --help)
  case "$out" in
    *"Usage: kubectl $plugin"*) ;;
    *) echo "krew-check: kubectl $plugin --help after a krew install printed: $out" >&2; exit 1 ;;
  esac
  echo "krew-check: $plugin: manifest valid, installed by krew, runs as kubectl $plugin"
  passed=$((passed + 1))
done
echo "krew-check: $passed plugins checked"
