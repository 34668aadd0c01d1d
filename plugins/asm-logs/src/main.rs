//! `kubectl asm-logs`: istiod's logs read for the runbook's three signatures (TLS bad certificate, RBAC
//! "cannot list resource", serverca/JWT authentication failures), live over every istiod pod and revision
//! or offline on saved files, with the runbook's remediation filled in.

mod commands;

use std::process::ExitCode;

use asm_core::cli::{GlobalArgs, main_with};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl asm-logs",
    bin_name = "kubectl asm-logs",
    version,
    about = "Scan istiod's logs for the runbook's signatures: bad certificate, forbidden, serverca/JWT",
    after_help = "Exit codes: 0 no signature or only transient ones (warnings), 1 a persistent signature, 2 usage error or no log could be read.\nOutput shape for -o json|yaml: see docs/asm-logs.md."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan every istiod pod and revision (or -f FILE) for the three signatures
    Scan(commands::scan::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = cli.global.output.clone();
    main_with(&output, || async move {
        match &cli.command {
            Command::Scan(args) => commands::scan::run(&cli.global, args).await,
        }
    })
}
