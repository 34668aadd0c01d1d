//! What every plugin's command line shares: the cluster-selection and output flags (one struct flattened
//! into every plugin), resolving them into settings before any I/O, the run loop with Ctrl-C handling,
//! confirmations, and the exit-code contract.

mod args;
mod confirm;
mod exit;
mod run;

pub use args::{ClusterArgs, FailOn, GlobalArgs, OutputArgs, parse_duration};
pub use confirm::confirm;
pub use exit::{EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, exit_code};
pub use run::{CliError, Outcome, PlannedCommand, error_finding, for_each_cluster, for_each_cluster_on, main_with};
