//! One integration test binary for every plugin's end-to-end tests; a module per plugin.
//! Run with the mesh up: `scripts/test.sh` (or `cargo test -p asm-e2e -- --include-ignored`).

mod authz;
mod certs;
mod logs;
mod tls;
