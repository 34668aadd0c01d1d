//! The run loop every plugin's `main` calls: build the runtime, run the command against a Ctrl-C, render the
//! outcome in the chosen format and turn it into the contract's exit code.

use std::future::Future;
use std::process::ExitCode;

use futures::future::join_all;

use super::OutputArgs;
use super::exit::{EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, exit_code};
use crate::cluster::{Cluster, ClusterError};
use crate::model::{CheckId, Finding, Report, Status};
use crate::render;

/// A command the invocation would run, for `--print-commands`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCommand {
    pub context: String,
    pub purpose: String,
    pub command: String,
}

/// What a subcommand produced.
#[derive(Debug)]
pub enum Outcome {
    Report(Report),
    Commands(Vec<PlannedCommand>),
    /// Text that is itself the product (a policy's YAML), printed as is; exit 0.
    Text(String),
}

/// An error that stops the whole invocation: always exit 2.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError { message: message.into() }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ClusterError> for CliError {
    fn from(e: ClusterError) -> Self {
        CliError { message: e.to_string() }
    }
}

/// Run a plugin command to completion and map its outcome to the exit code.
pub fn main_with<F, Fut>(output: &OutputArgs, body: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Outcome, CliError>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            render::print_error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let code = runtime.block_on(async {
        tokio::select! {
            result = body() => finish(result, output),
            // Nothing the plugins create can be undone (an ephemeral container cannot be removed; applies and
            // restarts are single API calls), so stopping is enough: dropping the future closes every stream.
            _ = tokio::signal::ctrl_c() => {
                render::print_error("interrupted");
                EXIT_INTERRUPTED
            }
        }
    });
    // Exec and port-forward streams may still hold tasks; do not wait for them once the answer is out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(code)
}

fn finish(result: Result<Outcome, CliError>, output: &OutputArgs) -> u8 {
    match result {
        Ok(Outcome::Report(report)) => {
            render::print_report(&report, output.output, output.wide);
            exit_code(&report, output.fail_on)
        }
        Ok(Outcome::Commands(cmds)) => {
            let rows: Vec<_> = cmds.into_iter().map(|c| (c.context, c.purpose, c.command)).collect();
            render::print_commands(&rows);
            EXIT_OK
        }
        Ok(Outcome::Text(t)) => {
            render::print_text(&t);
            EXIT_OK
        }
        Err(e) => {
            render::print_error(&e.message);
            EXIT_ERROR
        }
    }
}

/// Run `check` against every cluster at once. A cluster that fails becomes one `error` finding with the
/// reason, so an unreachable context never hides the others' results. Results keep the contexts' order.
pub async fn for_each_cluster<F, Fut>(clusters: &[Cluster], id: CheckId, check: F) -> Vec<Finding>
where
    F: Fn(Cluster) -> Fut,
    Fut: Future<Output = Result<Vec<Finding>, ClusterError>>,
{
    for_each_cluster_on(clusters, id, "", check).await
}

/// [`for_each_cluster`], naming `target` in the error finding of a cluster that fails, so the table says what
/// could not be checked.
pub async fn for_each_cluster_on<F, Fut>(clusters: &[Cluster], id: CheckId, target: &str, check: F) -> Vec<Finding>
where
    F: Fn(Cluster) -> Fut,
    Fut: Future<Output = Result<Vec<Finding>, ClusterError>>,
{
    let runs = clusters.iter().map(|c| {
        let fut = check(c.clone());
        let context = c.context.clone();
        async move {
            match fut.await {
                Ok(findings) => findings,
                Err(e) => vec![error_finding(id, &context, target, &e)],
            }
        }
    });
    join_all(runs).await.into_iter().flatten().collect()
}

/// A check that could not run, with the reason as its summary.
pub fn error_finding(id: CheckId, context: &str, target: &str, e: &ClusterError) -> Finding {
    Finding::new(id, context, target).status(Status::Error, e.to_string())
}
