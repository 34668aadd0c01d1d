#!/usr/bin/env bash
# Fuzz every parser that reads untrusted text with libFuzzer (cargo-fuzz, nightly), each target seeded with the
# real outputs saved under tests/fixtures, for SECONDS each (default 60). A crash fails the run and leaves the
# input under fuzz/artifacts/TARGET/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(xfcc sclient access_log istiod_log probe_output)
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain (rustup toolchain install nightly); libFuzzer needs it" >&2
  exit 2
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seed() {
  case "$1" in
    xfcc) echo tests/fixtures/certs ;;
    sclient) echo tests/fixtures/certs ;;
    access_log) echo tests/fixtures/authz ;;
    istiod_log) echo tests/fixtures/logs ;;
    probe_output) echo tests/fixtures/tls ;;
  esac
}
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus"
  src=$(seed "$t")
  # Seed with the real outputs (small files only: libFuzzer's default max_len is 4 KiB anyway).
  [ -d "$src" ] && find "$src" -type f -size -64k ! -name '*.sh' ! -name '*.py' -exec cp -n {} "$corpus/" \;
  echo "== fuzz $t for ${secs}s"
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$corpus" -- -max_total_time="$secs" -max_len=16384 2>&1 | tail -n 3
done
