//! The shared core of the kubectl-asm plugins.
//!
//! The folders are the architecture:
//! - [`model`], [`parse`] and [`checks`] are pure: values in, findings out, no cluster and no I/O, so every
//!   judgement can be tested on output saved from real runs;
//! - [`cluster`] is the only place that talks to a Kubernetes API server (lists, exec, logs, port-forward);
//! - [`render`] is the only place that writes to the terminal;
//! - [`cli`] holds what every plugin's command line shares: cluster selection, output flags, exit codes,
//!   confirmations and the run loop that ties the layers together.

pub mod checks;
pub mod cli;
pub mod cluster;
pub mod model;
pub mod parse;
pub mod render;
#[cfg(test)]
mod test_support;
