//! The only module that writes to the terminal. Findings come in as values; people get a grouped table,
//! automation gets the documented JSON/YAML shape (docs/output.md). Rendering never changes a verdict.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod table;

use std::io::IsTerminal;

use crate::model::Report;

pub use table::render_table;

/// `-o table|json|yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Colour only for a person at a terminal, and never when NO_COLOR is set (https://no-color.org).
pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// `wide` shows every evidence line in tables; JSON and YAML always carry all of them.
pub fn render(report: &Report, format: OutputFormat, color: bool, wide: bool) -> String {
    match format {
        OutputFormat::Table => render_table(report, color, wide),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            s.push('\n');
            s
        }
        OutputFormat::Yaml => serde_yaml_ng::to_string(report).unwrap_or_else(|e| format!("error: {e}\n")),
    }
}

pub fn print_report(report: &Report, format: OutputFormat, wide: bool) {
    print!("{}", render(report, format, format == OutputFormat::Table && use_color(), wide));
}

/// `--print-commands`: one runbook command a line, each preceded by a comment naming its context and purpose.
pub fn print_commands(commands: &[(String, String, String)]) {
    for (context, purpose, command) in commands {
        if context.is_empty() {
            println!("# {purpose}");
        } else {
            println!("# [{context}] {purpose}");
        }
        println!("{command}");
    }
}

/// Errors go to stderr, prefixed so scripts can tell them from findings.
pub fn print_error(message: &str) {
    eprintln!("error: {message}");
}

/// Progress and notes for people go to stderr so stdout stays parseable.
pub fn print_note(message: &str) {
    eprintln!("{message}");
}

/// Plain text a command produces instead of a report (`deny-namespace` prints YAML).
pub fn print_text(text: &str) {
    print!("{text}");
}
