//! Shared by the asm-certs subcommands: reading `-f FILE|-`, expiry thresholds with day units, the clock,
//! and what a cluster says it trusts (trust domain, istio-ca-root-cert).

use std::io::Read;
use std::time::Duration;

use asm_core::checks::certs::chain::{ExpiryPolicy, MeshRoots};
use asm_core::cli::{CliError, parse_duration};
use asm_core::cluster::{Cluster, ClusterError, trust};
use asm_core::parse::x509::parse_pem_bundle;

/// Read a file, or stdin for `-`.
pub fn read_input(path: &str) -> Result<String, CliError> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin().read_to_string(&mut text).map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
    } else {
        let bytes = std::fs::read(path).map_err(|e| CliError::usage(format!("cannot read {path}: {e}")))?;
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    Ok(text)
}

/// Durations for certificate lifetimes: kubectl's units plus days (`30d`).
pub fn parse_long_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Some(days) = t.strip_suffix('d') {
        let n: u64 = days.parse().map_err(|_| format!("{s:?} is not a duration (examples: 30d, 12h, 90m)"))?;
        if n > 36_500 {
            return Err(format!("{s:?} is out of range"));
        }
        return Ok(Duration::from_secs(n * 86_400));
    }
    parse_duration(t)
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExpiryArgs {
    /// Warn when a root or intermediate expires within this (e.g. 30d)
    #[arg(long, value_name = "DURATION", value_parser = parse_long_duration, default_value = "30d")]
    pub warn_within: Duration,
    /// Warn when the workload (leaf) certificate expires within this; default: when less than 45% of its
    /// lifetime is left, i.e. past the point where istio-agent rotates it
    #[arg(long, value_name = "DURATION", value_parser = parse_long_duration)]
    pub leaf_warn_within: Option<Duration>,
}

impl ExpiryArgs {
    pub fn policy(&self) -> ExpiryPolicy {
        ExpiryPolicy {
            ca_warn_within: self.warn_within.as_secs() as i64,
            leaf_warn_within: self.leaf_warn_within.map(|d| d.as_secs() as i64),
        }
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The mesh's trust domain: the flag wins, then meshConfig in the cluster.
pub async fn trust_domain(
    cluster: &Cluster,
    flag: Option<&str>,
    istio_namespace: &str,
) -> Result<(String, String), ClusterError> {
    match flag {
        Some(td) => Ok((td.to_owned(), "--trust-domain".to_owned())),
        None => trust::mesh_trust_domain(cluster, istio_namespace, None).await,
    }
}

/// istio-ca-root-cert of a namespace as roots to verify against; `None` when absent or unreadable as PEM
/// (the chain check then says it could not compare).
pub async fn mesh_roots(cluster: &Cluster, namespace: &str) -> Result<Option<MeshRoots>, ClusterError> {
    let pem = trust::root_cert_pem(cluster, namespace).await?;
    Ok(pem.and_then(|p| {
        parse_pem_bundle(p.as_bytes())
            .ok()
            .map(|roots| MeshRoots { source: format!("ConfigMap {namespace}/istio-ca-root-cert"), roots })
    }))
}

pub fn roots_from_file(path: &str) -> Result<MeshRoots, CliError> {
    let text = read_input(path)?;
    let roots = parse_pem_bundle(text.as_bytes()).map_err(|e| CliError::usage(format!("--root-cert {path}: {e}")))?;
    Ok(MeshRoots { source: format!("file {path}"), roots })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_durations() {
        assert_eq!(parse_long_duration("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(parse_long_duration("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert!(parse_long_duration("xd").is_err());
        assert!(parse_long_duration("99999999d").is_err());
    }
}
