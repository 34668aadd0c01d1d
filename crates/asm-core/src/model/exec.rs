//! What came back from running a command inside a pod container, as plain data the pure checks can judge.

use serde::{Deserialize, Serialize};

/// How the exit status of an exec'd command was (or was not) reported by the API server.
///
/// Runtimes differ in how faithfully an exec's exit status comes back (some report every failure as
/// exit 1, some nothing at all), so checks treat it as one signal among several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExitReport {
    /// The status channel said Success.
    Success,
    /// The status channel named a non-zero exit code.
    Code { code: i32 },
    /// The command could not be started at all (no such executable, container not running).
    StartFailed { message: String },
    /// The stream ended without a status.
    Unreported,
}

impl ExitReport {
    pub fn code(&self) -> Option<i32> {
        match self {
            ExitReport::Success => Some(0),
            ExitReport::Code { code } => Some(*code),
            _ => None,
        }
    }
}

/// Everything an exec produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit: ExitReport,
}

impl ExecOutput {
    /// One line for tables: curl's own words plus how the exec ended.
    pub fn describe_exit(&self) -> String {
        match &self.exit {
            ExitReport::Success => "exit status 0".into(),
            ExitReport::Code { code } => format!("command terminated with exit code {code}"),
            ExitReport::StartFailed { message } => format!("command could not start: {message}"),
            ExitReport::Unreported => "exit status not reported by the runtime".into(),
        }
    }
}
