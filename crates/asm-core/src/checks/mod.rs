//! Check logic: snapshots gathered from a cluster (or read from a file) in, findings out. Pure.

pub mod authz;
pub mod certs;
pub mod logs;
pub mod tls;
