#!/usr/bin/env bash
# Build the release archives krew installs, one per plugin, each holding the plugin binary and LICENSE, and
# fill each krew manifest template (krew-manifests/*.yaml) with the version and the archive's sha256.
#
#   scripts/release.sh [--out DIR] [--profile release|dev]      (default: dist/, release)
#
# `--profile dev` packages the debug build: the same archive shape for CI's krew checks, without the
# optimised build's minutes.
#
# Writes DIR/kubectl-asm-<plugin>_v<version>_linux_amd64.tar.gz and DIR/krew/<plugin>.yaml. Only linux/amd64
# is built: that is the only toolchain on the build machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    *) echo "usage: scripts/release.sh [--out DIR] [--profile release|dev]" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) target_dir=target/release ;;
  dev) target_dir=target/debug ;;
  *) echo "release: --profile must be release or dev" >&2; exit 2 ;;
esac
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { echo "release: cannot read [workspace.package] version from Cargo.toml" >&2; exit 2; }
mkdir -p "$out/krew"
out=$(cd "$out" && pwd)

plugins=()
for manifest in krew-manifests/*.yaml; do
  plugins+=("$(basename "$manifest" .yaml)")
done
cargo build --profile "$profile" --locked $(printf -- '-p kubectl-%s ' "${plugins[@]}")

for plugin in "${plugins[@]}"; do
  bin="kubectl-${plugin//-/_}"            # kubectl maps `kubectl asm-tls` to kubectl-asm_tls
  archive="kubectl-${plugin}_v${version}_linux_amd64.tar.gz"
  stage=$(mktemp -d)
  cp "$target_dir/$bin" LICENSE "$stage/"
  # Fixed owner, mode and mtime so the same binary gives the same archive.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2020-01-01 00:00Z' \
      -C "$stage" -czf "$out/$archive" "$bin" LICENSE
  rm -rf "$stage"
  sha=$(sha256sum "$out/$archive" | cut -d' ' -f1)
  sed -e "s/{{VERSION}}/$version/g" -e "s/{{SHA256_LINUX_AMD64}}/$sha/g" -e '/^# Template:/d' \
      "krew-manifests/$plugin.yaml" > "$out/krew/$plugin.yaml"
  echo "$out/$archive  sha256 $sha"
done
