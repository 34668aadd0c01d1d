//! One file per subcommand; each gathers a snapshot from the cluster (or reads a file), hands it to the pure
//! checks in asm-core, and returns the findings.

pub mod deny_namespace;
pub mod explain;
pub mod policies;
pub mod verify;
