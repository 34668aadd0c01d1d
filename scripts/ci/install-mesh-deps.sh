#!/usr/bin/env bash
# CI helper: install/build everything the local mesh needs (apt, pip venv, go
# builds) into $ASM_CACHE_DIR without starting anything. Useful as a separate,
# cacheable CI step before `scripts/mesh/up.sh`.
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")/../mesh" && pwd)/deps.sh" "$@"
