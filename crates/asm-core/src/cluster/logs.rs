//! Pod logs through the API server (what `kubectl logs` reads), handed over one line at a time so a scan
//! over a busy proxy's or istiod's log keeps bounded memory; and finding the pods whose logs to read.

use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};

use super::{Cluster, ClusterError};

/// Which log to read and how much of it.
#[derive(Debug, Clone)]
pub struct LogRequest<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: &'a str,
    /// Only lines newer than this (`kubectl logs --since`).
    pub since: Option<Duration>,
    /// Only the last N lines (`kubectl logs --tail`).
    pub tail: Option<i64>,
    /// Give up when the whole read takes longer.
    pub timeout: Duration,
}

impl LogRequest<'_> {
    /// The same read as a kubectl command, for `commands` and `--print-commands`.
    pub fn kubectl_args(&self) -> Vec<String> {
        let mut a = vec![
            "logs".to_owned(),
            self.pod.to_owned(),
            "-n".to_owned(),
            self.namespace.to_owned(),
            "-c".to_owned(),
            self.container.to_owned(),
        ];
        if let Some(s) = self.since {
            a.push(format!("--since={}s", s.as_secs().max(1)));
        }
        if let Some(t) = self.tail {
            a.push(format!("--tail={t}"));
        }
        a
    }
}

/// Stream a container's log, calling `on_line` for every line (without its newline). Returns the number
/// of lines read.
pub async fn stream_lines<F>(cluster: &Cluster, req: &LogRequest<'_>, mut on_line: F) -> Result<u64, ClusterError>
where
    F: FnMut(&str),
{
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), req.namespace);
    let params = LogParams {
        container: Some(req.container.to_owned()),
        since_seconds: req.since.map(|d| d.as_secs().max(1) as i64),
        tail_lines: req.tail,
        ..LogParams::default()
    };
    let what = format!("reading the log of {}/{} -c {}", req.namespace, req.pod, req.container);
    let map = |e| ClusterError::from_kube(&cluster.context, "get", "pods/log", Some(req.namespace), e);
    let read = async {
        let stream = api.log_stream(req.pod, &params).await.map_err(map)?;
        let mut lines = stream.lines();
        let mut n = 0u64;
        while let Some(line) = lines.try_next().await.map_err(|e| ClusterError::Api {
            context: cluster.context.clone(),
            what: what.clone(),
            message: e.to_string(),
        })? {
            n += 1;
            on_line(&line);
        }
        Ok(n)
    };
    match tokio::time::timeout(req.timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(ClusterError::Timeout { context: cluster.context.clone(), what, after: req.timeout }),
    }
}

/// Whether the pod runs `container`, as a regular container or as a native sidecar (an init container
/// that keeps running, how recent Istio injects istio-proxy).
pub fn has_container(pod: &Pod, container: &str) -> bool {
    pod.spec.as_ref().is_some_and(|s| {
        s.containers.iter().any(|c| c.name == container)
            || s.init_containers.as_ref().is_some_and(|ic| ic.iter().any(|c| c.name == container))
    })
}

/// Running pods with `container`, in one namespace or (None) all, ordered by namespace and name.
pub async fn pods_with_container(
    cluster: &Cluster,
    namespace: Option<&str>,
    container: &str,
) -> Result<Vec<Pod>, ClusterError> {
    let api: Api<Pod> = match namespace {
        Some(ns) => Api::namespaced(cluster.client.clone(), ns),
        None => Api::all(cluster.client.clone()),
    };
    let list = api
        .list(&ListParams::default().fields("status.phase=Running"))
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "list", "pods", namespace, e))?;
    let mut pods: Vec<Pod> = list.items.into_iter().filter(|p| has_container(p, container)).collect();
    pods.sort_by(|a, b| (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name)));
    Ok(pods)
}
