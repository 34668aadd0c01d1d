#!/usr/bin/env bash
# Stop everything the local mesh started (found through the pidfiles in
# $ASM_MESH_DIR/run; each process runs in its own session and is stopped
# with its whole process group). kwok's mount namespace goes away with kwok,
# and no network namespace is used. State (certs, etcd data, logs) is kept
# for inspection; pass --purge to delete $ASM_MESH_DIR as well.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

if [[ -d "$RUN_DIR" ]]; then
  if [[ -x "$PY" ]]; then
    "$PY" "$MESH_SCRIPTS_DIR/lib/meshctl.py" stop
  else
    # no venv (cache wiped?): plain shell fallback over the same pidfiles
    for f in "$RUN_DIR"/*.pid; do
      [[ -e "$f" ]] || continue
      pid=$(cat "$f"); kill -TERM -- "-$pid" 2>/dev/null || true; rm -f "$f"
    done
  fi
fi
left=$(ls "$RUN_DIR"/*.pid 2>/dev/null | wc -l || true)
[[ "$left" == 0 ]] || die "some processes could not be stopped: $(ls "$RUN_DIR")"
if [[ "${1:-}" == "--purge" ]]; then rm -rf "$ASM_MESH_DIR"; fi
log "mesh stopped"
