//! Run a command in a pod container through the API server (the same exec `kubectl exec` uses) and bring
//! back stdout, stderr and whatever the runtime said about the exit status.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams};
use tokio::io::AsyncReadExt;

use super::{Cluster, ClusterError};
use crate::model::{ExecOutput, ExitReport};

/// Cap on what one probe may return; runbook probes print a few kilobytes at most.
const MAX_OUTPUT: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ExecRequest<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: &'a str,
    pub argv: &'a [String],
    pub timeout: Duration,
}

pub async fn exec(cluster: &Cluster, req: &ExecRequest<'_>) -> Result<ExecOutput, ClusterError> {
    let what = format!("exec into {}/{} -c {}", req.namespace, req.pod, req.container);
    match tokio::time::timeout(req.timeout, run(cluster, req)).await {
        Ok(r) => r,
        Err(_) => Err(ClusterError::Timeout { context: cluster.context.clone(), what, after: req.timeout }),
    }
}

async fn run(cluster: &Cluster, req: &ExecRequest<'_>) -> Result<ExecOutput, ClusterError> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), req.namespace);
    let params = AttachParams::default().container(req.container).stdin(false).stdout(true).stderr(true).tty(false);
    let mut proc = pods
        .exec(req.pod, req.argv.iter().map(String::as_str), &params)
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "create", "pods/exec", Some(req.namespace), e))?;
    let status = proc.take_status();
    let (mut out, mut err) = (proc.stdout(), proc.stderr());
    let read_out = async {
        let mut buf = Vec::new();
        if let Some(r) = out.as_mut() {
            let _ = r.take(MAX_OUTPUT).read_to_end(&mut buf).await;
        }
        buf
    };
    let read_err = async {
        let mut buf = Vec::new();
        if let Some(r) = err.as_mut() {
            let _ = r.take(MAX_OUTPUT).read_to_end(&mut buf).await;
        }
        buf
    };
    let (stdout, stderr) = tokio::join!(read_out, read_err);
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    let _ = proc.join().await;
    Ok(ExecOutput {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit: exit_report(status.as_ref()),
    })
}

/// Read the exec status object the way kubectl does: `NonZeroExitCode` carries the code in a cause
/// named `ExitCode`; any other failure means the command never ran.
fn exit_report(status: Option<&Status>) -> ExitReport {
    let Some(s) = status else {
        return ExitReport::Unreported;
    };
    if s.status.as_deref() == Some("Success") {
        return ExitReport::Success;
    }
    if s.reason.as_deref() == Some("NonZeroExitCode") {
        let code = s
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|causes| causes.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.parse().ok());
        if let Some(code) = code {
            return ExitReport::Code { code };
        }
    }
    ExitReport::StartFailed { message: s.message.clone().unwrap_or_default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: serde_json::Value) -> Status {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn non_zero_exit_code_is_read_from_causes() {
        // The status object kube-apiserver sends on the exec error channel, as kubectl reads it.
        let s = status(serde_json::json!({"status": "Failure", "reason": "NonZeroExitCode",
            "message": "command terminated with non-zero exit code: exit status 56",
            "details": {"causes": [{"reason": "ExitCode", "message": "56"}]}}));
        assert_eq!(exit_report(Some(&s)), ExitReport::Code { code: 56 });
        assert_eq!(exit_report(Some(&status(serde_json::json!({"status": "Success"})))), ExitReport::Success);
        assert_eq!(exit_report(None), ExitReport::Unreported);
        let start = status(serde_json::json!({"status": "Failure", "reason": "InternalError",
            "message": "exec: \"curl\": executable file not found in $PATH"}));
        assert!(matches!(exit_report(Some(&start)), ExitReport::StartFailed { .. }));
    }
}
