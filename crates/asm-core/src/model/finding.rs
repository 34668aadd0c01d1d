//! A finding is the result of one check on one target in one context: a value that renderers only format.

use serde::{Deserialize, Serialize};

use super::CheckId;

/// The JSON/YAML shape version; bump only with a documented, incompatible change to `docs/output.md`.
pub const REPORT_VERSION: u32 = 1;

/// How a check ended. Ordered from best to worst so the exit code can come from the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
    /// The check could not run or could not decide (cluster unreachable, forbidden, target missing,
    /// inconclusive probe). Worse than `Fail` because the answer is unknown, not bad.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's verdict on one target, with everything a person needs to trust it and act on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: CheckId,
    /// The kubeconfig context the result belongs to; empty for offline analysis of a file.
    pub context: String,
    /// What was checked, in the operator's words: `legacy/sleep -> httpbin.sample:8000`.
    pub target: String,
    pub status: Status,
    pub summary: String,
    /// The observations the verdict rests on, most telling first (the table shows the first).
    pub evidence: Vec<String>,
    /// The runbook commands exactly as run, values substituted, ready to paste.
    pub commands: Vec<String>,
    /// Next steps with values filled in.
    pub remediation: Vec<String>,
    /// The check's structured findings; each check documents its shape in docs/output.md.
    pub data: serde_json::Value,
}

impl Finding {
    pub fn new(id: CheckId, context: impl Into<String>, target: impl Into<String>) -> Self {
        Finding {
            id,
            context: context.into(),
            target: target.into(),
            status: Status::Skip,
            summary: String::new(),
            evidence: Vec::new(),
            commands: Vec::new(),
            remediation: Vec::new(),
            data: serde_json::Value::Null,
        }
    }

    pub fn status(mut self, status: Status, summary: impl Into<String>) -> Self {
        self.status = status;
        self.summary = summary.into();
        self
    }

    pub fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }

    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.commands.push(command.into());
        self
    }

    pub fn remediation(mut self, step: impl Into<String>) -> Self {
        self.remediation.push(step.into());
        self
    }

    pub fn data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// What every plugin prints with `-o json|yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub checks: Vec<Finding>,
}

impl Report {
    pub fn new(checks: Vec<Finding>) -> Self {
        Report { version: REPORT_VERSION, checks }
    }

    pub fn worst(&self) -> Option<Status> {
        self.checks.iter().map(|f| f.status).max()
    }
}
