//! An ephemeral debug container next to istio-proxy, for proxy images that ship without openssl. It runs
//! one command and exits; its output is read from the container's log. Kubernetes cannot remove an
//! ephemeral container once added: it stays in the pod spec (terminated) until the pod is deleted, which is
//! why callers must ask first.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams, Patch, PatchParams};
use serde_json::json;

use super::{Cluster, ClusterError};

/// How long to wait for the kubelet to report any status for the new container before giving up.
const NO_STATUS_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct DebugRun<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    /// Name for the new container (must be unique in the pod).
    pub name: &'a str,
    pub image: &'a str,
    /// The container whose process namespace the debug container shares.
    pub target: &'a str,
    pub argv: &'a [String],
    pub timeout: Duration,
}

/// Add the ephemeral container, wait for it to terminate, and return its log (stdout and stderr together).
pub async fn run_ephemeral(cluster: &Cluster, run: &DebugRun<'_>) -> Result<String, ClusterError> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), run.namespace);
    let patch = json!({
        "spec": {"ephemeralContainers": [{
            "name": run.name,
            "image": run.image,
            "command": run.argv,
            "targetContainerName": run.target,
            "stdin": false,
            "tty": false,
        }]}
    });
    pods.patch_ephemeral_containers(run.pod, &PatchParams::default(), &Patch::Strategic(patch)).await.map_err(|e| {
        ClusterError::from_kube(&cluster.context, "patch", "pods/ephemeralcontainers", Some(run.namespace), e)
    })?;
    let what = format!("debug container {} in {}/{}", run.name, run.namespace, run.pod);
    let gave_up = |message: String| ClusterError::Api { context: cluster.context.clone(), what: what.clone(), message };
    // Without any status the kubelet is not going to run it: do not wait the image-pull allowance.
    let grace = run.timeout.min(NO_STATUS_GRACE);
    let started = tokio::time::Instant::now();
    // What the kubelet said last, so a timeout tells "never started" from "still running".
    let mut seen: Option<String> = None;
    let wait = async {
        loop {
            let pod = pods
                .get(run.pod)
                .await
                .map_err(|e| ClusterError::from_kube(&cluster.context, "get", "pods", Some(run.namespace), e))?;
            let state = pod
                .status
                .as_ref()
                .and_then(|s| s.ephemeral_container_statuses.as_ref())
                .and_then(|l| l.iter().find(|c| c.name == run.name))
                .map(|c| c.state.clone().unwrap_or_default());
            if let Some(state) = state {
                if state.terminated.is_some() {
                    return Ok(());
                }
                if let Some(w) = state.waiting {
                    let reason = w.reason.unwrap_or_default();
                    if reason.contains("ErrImagePull")
                        || reason.contains("ImagePullBackOff")
                        || reason.contains("InvalidImageName")
                    {
                        return Err(ClusterError::Api {
                            context: cluster.context.clone(),
                            what: format!("debug container {} with image {}", run.name, run.image),
                            message: format!(
                                "{reason}: {}; choose another image with --image",
                                w.message.unwrap_or_default()
                            ),
                        });
                    }
                    seen = Some(format!("waiting ({reason})"));
                } else if state.running.is_some() {
                    seen = Some("running".into());
                } else {
                    seen = Some("reported without a state".into());
                }
            }
            let elapsed = started.elapsed();
            match &seen {
                None if elapsed >= grace => {
                    return Err(gave_up(format!(
                        "the node reported no status for it within {grace:?} (status.ephemeralContainerStatuses has no entry), so the kubelet did not start it: ephemeral containers unsupported on that node, or a simulated node (kwok) that runs no containers. It stays in the pod spec. Read the certificates without exec or debug containers: --method admin"
                    )));
                }
                Some(s) if elapsed >= run.timeout => {
                    return Err(gave_up(if s == "running" {
                        format!(
                            "still running after {:?}: openssl s_client did not finish (is the destination answering?); raise --probe-timeout",
                            run.timeout
                        )
                    } else {
                        format!("still {s} after {:?}; raise --probe-timeout or check the node", run.timeout)
                    }));
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    // A stuck API call must not outlive the allowance either.
    tokio::time::timeout(run.timeout + Duration::from_secs(5), wait).await.map_err(|_| ClusterError::Timeout {
        context: cluster.context.clone(),
        what: what.clone(),
        after: run.timeout,
    })??;
    pods.logs(run.pod, &LogParams { container: Some(run.name.to_owned()), ..Default::default() })
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "get", "pods/log", Some(run.namespace), e))
}
