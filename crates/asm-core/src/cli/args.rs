//! The flags every plugin takes, spelled as kubectl spells them.

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::cluster::Selection;
use crate::render::OutputFormat;

/// Cluster selection like kubectl's, plus several contexts at once because a mesh spans clusters.
#[derive(Debug, Clone, Args, Default)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<String>,
    /// Context to use; repeat it or give a comma list to check several clusters at once
    #[arg(long = "context", visible_alias = "contexts", global = true, value_delimiter = ',', value_name = "CTX")]
    pub contexts: Vec<String>,
    /// Run against every context in the kubeconfig
    #[arg(long, global = true, conflicts_with = "contexts")]
    pub all_contexts: bool,
    /// Namespace (default: the context's namespace)
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// All namespaces, where the command supports it
    #[arg(short = 'A', long, global = true, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Username to impersonate
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Group to impersonate; repeat for several
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// Timeout for each API request, like kubectl's (30s, 1m, 0 for none)
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub request_timeout: Duration,
}

impl ClusterArgs {
    pub fn selection(&self) -> Selection {
        Selection {
            kubeconfig: self.kubeconfig.clone(),
            contexts: self.contexts.clone(),
            all_contexts: self.all_contexts,
            impersonate: self.as_user.clone(),
            impersonate_groups: self.as_group.clone(),
            request_timeout: (!self.request_timeout.is_zero()).then_some(self.request_timeout),
        }
    }
}

/// When warnings count as failures for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum FailOn {
    #[default]
    Fail,
    Warn,
}

#[derive(Debug, Clone, Args, Default)]
pub struct OutputArgs {
    /// Output format: table for people, json or yaml for automation (docs/output.md)
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Print the runbook commands this invocation would run, values substituted, and run nothing
    #[arg(long, global = true)]
    pub print_commands: bool,
    /// Table output: show every line of evidence, not only the first
    #[arg(long, global = true)]
    pub wide: bool,
    /// Exit 1 on warnings too, not only on failures
    #[arg(long, global = true, value_enum, default_value_t = FailOn::Fail)]
    pub fail_on: FailOn,
}

/// Both groups, flattened into every plugin's top-level command.
#[derive(Debug, Clone, Args, Default)]
pub struct GlobalArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// kubectl-style durations: `30s`, `2m`, `1h`, `500ms`, `7d`, a bare number of seconds, or `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration (examples: 30s, 2m, 500ms)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => {
            return Err(format!("{s:?} has unknown unit {unit:?} (use ms, s, m, h or d)"));
        }
    };
    if !secs.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&secs) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("1e400").is_err());
    }
}
