//! Plain values shared by every layer: findings, the check catalog, and the commands a check runs.

mod catalog;
mod command;
mod exec;
mod finding;
mod target;

pub use catalog::{CATALOG, CheckId, CheckInfo};
pub use command::{KubectlCommand, shell_quote};
pub use exec::{ExecOutput, ExitReport};
pub use finding::{Finding, REPORT_VERSION, Report, Status};
pub use target::ServiceRef;
