//! `kubectl asm-certs`: the runbook's "Check mTLS certificates" as commands. XFCC as the destination saw
//! it, the chain a sidecar serves with its root named and verified, root and trust-domain consistency across
//! clusters, and all of it offline on saved output.

mod commands;

use std::process::ExitCode;

use asm_core::cli::{GlobalArgs, main_with};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl asm-certs",
    bin_name = "kubectl asm-certs",
    version,
    about = "mTLS certificates as the runbook checks them: XFCC, the served chain and its root, root consistency",
    after_help = "Exit codes: 0 all checks passed (warnings allowed), 1 a check failed, 2 usage error or a check could not run.\nOutput shape for -o json|yaml: see docs/asm-certs.md and docs/output.md."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Request httpbin's /headers from a pod and check the X-Forwarded-Client-Cert identities (or -f FILE)
    Xfcc(commands::xfcc::Args),
    /// Read the certificate chain a destination serves (openssl s_client, a debug container, or Envoy's admin)
    Chain(commands::chain::Args),
    /// Do all clusters and namespaces trust the same root and trust domain?
    RootConsistency(commands::root_consistency::Args),
    /// Judge saved `openssl s_client -showcerts` output or a PEM bundle, offline
    Inspect(commands::inspect::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = cli.global.output.clone();
    main_with(&output, || async move {
        match &cli.command {
            Command::Xfcc(a) => commands::xfcc::run(&cli.global, a).await,
            Command::Chain(a) => commands::chain::run(&cli.global, a).await,
            Command::RootConsistency(a) => commands::root_consistency::run(&cli.global, a).await,
            Command::Inspect(a) => commands::inspect::run(&cli.global, a).await,
        }
    })
}
