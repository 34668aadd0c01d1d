#!/usr/bin/env bash
# Benchmark of `kubectl-asm_logs scan -f` against the manual way (the runbook's three grep expressions, one
# after another and as one alternation) and ripgrep, on a generated istiod-shaped log, in the same run.
# Usage: scripts/bench-logs.sh [SIZE_BYTES]   (default 1 GiB; the log goes to a temp dir outside the repo)
# Needs: python3, grep; optional: hyperfine, ripgrep (rg), GNU time (/usr/bin/time) — all in Debian.
set -euo pipefail
size=${1:-$((1 << 30))}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/asm-logs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
log=$work/istiod.log
results=${BENCH_RESULTS:-$repo/docs/bench-logs-results.txt}

(cd "$repo" && cargo build --release -q -p kubectl-asm-logs)
bin=$repo/target/release/kubectl-asm_logs
echo "generating $size bytes of istiod log in $log" >&2
python3 "$repo/scripts/bench-logs-gen.py" "$log" "$size"
A='TLS handshake error.*bad certificate'
B='error.*cannot list resource'
C='serverca.*Authentication failed:.*JWT'
cat "$log" > /dev/null  # warm the page cache so every tool reads from memory

{
  echo "# asm-logs benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB RAM; $(uname -sr)"
  echo "input: $(stat -c %s "$log") bytes, $(wc -l < "$log") lines"
  first() { local out; out=$("$@" 2>/dev/null) || true; echo "${out%%$'\n'*}"; }
  echo "tools: $(first grep --version); $(first rg --version); $(first hyperfine --version)"
  echo
  echo "## counts (sanity)"
  echo "asm-logs: $( ("$bin" scan -f "$log" -o json || true) | python3 -c 'import json,sys; r=json.load(sys.stdin); print(" ".join("%s=%s" % (c["id"], c["data"].get("count", c["data"].get("lines"))) for c in r["checks"]))')"
  echo "grep A|B|C: $(grep -E -c "$A|$B|$C" "$log" || true)"
  echo
} | tee "$results"

cmds=(
  "$bin scan -f $log -o json | cat"
  "(grep -E -c '$A' $log; grep -E -c '$B' $log; grep -E -c '$C' $log) | cat"
  "grep -E -c '$A|$B|$C' $log | cat"
)
# Every command's output goes through `| cat`: GNU grep stops at the first match when its stdout is
# /dev/null (where hyperfine sends it), which would time nothing.
names=("asm-logs scan -f -o json" "grep -E -c x3 (one after another)" "grep -E -c 'A|B|C'")
# The same scan held to one core: the file is then read in one pass instead of one range per core, which
# shows what the ranges buy on this machine.
if command -v taskset >/dev/null; then
  cmds+=("taskset -c 0 $bin scan -f $log -o json | cat")
  names+=("asm-logs scan, one core (taskset -c 0)")
fi
if command -v rg >/dev/null; then
  cmds+=("rg -c '$A|$B|$C' $log | cat")
  names+=("rg -c 'A|B|C'")
fi

echo "## wall time" | tee -a "$results"
if command -v hyperfine >/dev/null; then
  args=()
  for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
  hyperfine -i --warmup 1 --runs "${RUNS:-3}" --export-markdown "$work/hf.md" "${args[@]}" >&2
  cat "$work/hf.md" | tee -a "$results"
else
  echo "(hyperfine not installed: single runs timed by /usr/bin/time below)" | tee -a "$results"
fi

echo | tee -a "$results"
echo "## peak memory (single run each, /usr/bin/time -v)" | tee -a "$results"
for i in "${!cmds[@]}"; do
  /usr/bin/time -v bash -c "${cmds[$i]} > /dev/null" 2> "$work/time.txt" || true
  rss=$(awk -F: '/Maximum resident set size/{gsub(/ /,"",$2); print $2}' "$work/time.txt")
  wall=$(awk '/Elapsed \(wall clock\)/{print $NF}' "$work/time.txt")
  printf '%-40s peak RSS %6d MiB   wall %s\n' "${names[$i]}" $((rss / 1024)) "$wall" | tee -a "$results"
done
echo "results written to $results" >&2
