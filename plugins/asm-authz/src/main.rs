//! `kubectl asm-authz`: are AuthorizationPolicies enforced, and which policy rule denied what? The runbook's
//! probe, its deny-everything remedy, denial logging mapped back to the rule, and the policies that apply to
//! a workload, across one or many clusters.

mod commands;

use std::process::ExitCode;

use asm_core::cli::{GlobalArgs, main_with};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl asm-authz",
    bin_name = "kubectl asm-authz",
    version,
    about = "Are AuthorizationPolicies enforced? Probe, deny-everything remedy, denials mapped back to the policy rule",
    after_help = "Policies are always printed as NAMESPACE/NAME rule[IDX].\nExit codes: 0 all checks passed (warnings allowed), 1 a check failed, 2 usage error or a check could not run.\nOutput shape for -o json|yaml: see docs/asm-authz.md and docs/output.md."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send a request from a pod to a service and tell a proxy denial from an application 403 or an allowed request
    Verify(commands::verify::Args),
    /// Print (or --apply) the runbook's deny-everything AuthorizationPolicy for a namespace
    DenyNamespace(commands::deny_namespace::Args),
    /// Map denials in istio-proxy access logs or Cloud Logging exports back to the policy and rule
    Explain(commands::explain::Args),
    /// AuthorizationPolicies that apply to a workload, in evaluation order
    Policies(commands::policies::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = cli.global.output.clone();
    main_with(&output, || async move {
        match &cli.command {
            Command::Verify(args) => commands::verify::run(&cli.global, args).await,
            Command::DenyNamespace(args) => commands::deny_namespace::run(&cli.global, args).await,
            Command::Explain(args) => commands::explain::run(&cli.global, args).await,
            Command::Policies(args) => commands::policies::run(&cli.global, args).await,
        }
    })
}
