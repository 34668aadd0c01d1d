//! Parsers for what the runbook's commands print. Pure: they work the same on a live exec's output and on
//! text a colleague pasted into a ticket, and bad input is an error value, never a panic.

pub mod access_log;
pub mod cloud_logging;
pub mod curl;
pub mod istiod_log;
pub mod sclient;
pub mod x509;
pub mod xfcc;
