#!/usr/bin/env bash
# Build the four plugins and put them on PATH for kubectl's plugin mechanism: kubectl finds any executable
# named kubectl-asm_<name> on PATH and runs it as `kubectl asm-<name>`.
#
#   scripts/install.sh [--prefix DIR] [--debug]     (default DIR: ~/.local; binaries go to DIR/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$HOME/.local"
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --debug) profile=dev; shift ;;
    *) echo "usage: scripts/install.sh [--prefix DIR] [--debug]" >&2; exit 2 ;;
  esac
done
dir=target/release
[ "$profile" = dev ] && dir=target/debug
packages=()
for p in plugins/*/; do packages+=(-p "$(sed -n 's/^name = "\(.*\)"/\1/p' "$p/Cargo.toml" | head -1)"); done
cargo build --profile "$profile" --locked "${packages[@]}"
mkdir -p "$prefix/bin"
for bin in "$dir"/kubectl-asm_*; do
  case "$bin" in *.d) continue ;; esac      # cargo's dependency files are not plugins
  install -m 0755 "$bin" "$prefix/bin/"
  echo "installed $prefix/bin/$(basename "$bin")"
done
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "note: add $prefix/bin to PATH so kubectl finds the plugins: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
