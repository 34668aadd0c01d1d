//! Nothing changes a cluster without an explicit flag and a yes: a prompt at a terminal, or `--yes` for
//! automation. Without a terminal and without `--yes` the answer is no, with a message saying why.

use std::io::IsTerminal;

use super::CliError;

pub fn confirm(prompt: &str, yes: bool) -> Result<bool, CliError> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(CliError::usage(format!(
            "{prompt}: refusing to change the cluster without confirmation; no terminal to ask on, pass --yes to confirm"
        )));
    }
    dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .map_err(|e| CliError::usage(format!("could not read the confirmation: {e}")))
}
