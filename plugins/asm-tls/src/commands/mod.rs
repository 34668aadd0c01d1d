//! One file per subcommand; each gathers a snapshot from the cluster, hands it to the pure checks in
//! asm-core, and returns the findings.

pub mod mode;
pub mod verify;
pub mod webhook;
