//! `kubectl asm-tls`: is mTLS really enforced? The runbook's plain-text probe, the injector's caBundle, and
//! the effective PeerAuthentication mode, across one or many clusters.

mod commands;

use std::process::ExitCode;

use asm_core::cli::{GlobalArgs, main_with};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl asm-tls",
    bin_name = "kubectl asm-tls",
    version,
    about = "Is mTLS really enforced? Plain-text probe, injector caBundle, effective PeerAuthentication mode",
    after_help = "Exit codes: 0 all checks passed (warnings allowed), 1 a check failed, 2 usage error or a check could not run.\nOutput shape for -o json|yaml: see docs/output.md."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send a plain-text request from a pod to a service: it must be refused when the service requires mTLS
    Verify(commands::verify::Args),
    /// Check every sidecar-injector webhook's caBundle against istiod's CA; --fix restarts istiod
    Webhook(commands::webhook::Args),
    /// Effective mTLS mode per workload and port, with the PeerAuthentications that decided it
    Mode(commands::mode::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = cli.global.output.clone();
    main_with(&output, || async move {
        match &cli.command {
            Command::Verify(args) => commands::verify::run(&cli.global, args).await,
            Command::Webhook(args) => commands::webhook::run(&cli.global, args).await,
            Command::Mode(args) => commands::mode::run(&cli.global, args).await,
        }
    })
}
