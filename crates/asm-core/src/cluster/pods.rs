//! Finding the pod a user meant: `POD[.NS]`, `deploy/NAME[.NS]`, or a workload name matched by its `app`
//! label, the way operators usually refer to `sleep` or `httpbin`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::{Cluster, ClusterError};

/// A pod reference as typed, split into name and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// `deploy/NAME` keeps its prefix so the printed command is what the user typed.
    pub name: String,
    pub namespace: Option<String>,
}

/// `POD[.NS]`: the namespace is after the last dot. An explicit `-n` is used only when no dot is given.
pub fn parse_pod_ref(s: &str, namespace_flag: Option<&str>) -> Result<PodRef, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty pod reference; expected POD[.NAMESPACE] or deploy/NAME[.NAMESPACE]".into());
    }
    let (name, namespace) = match s.rsplit_once('.') {
        Some((n, ns)) if !n.is_empty() && !ns.is_empty() => (n.to_owned(), Some(ns.to_owned())),
        Some(_) => return Err(format!("{s:?} is not POD[.NAMESPACE]")),
        None => (s.to_owned(), namespace_flag.map(str::to_owned)),
    };
    let bare = name.rsplit('/').next().unwrap_or_default();
    if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(format!("{name:?} is not a valid pod or deployment name"));
    }
    Ok(PodRef { name, namespace })
}

/// The pod a reference resolved to.
#[derive(Debug, Clone)]
pub struct ResolvedPod {
    pub pod: Pod,
    pub name: String,
    pub namespace: String,
    /// How it was found, for evidence ("pod legacy/sleep-5d9 (label app=sleep)").
    pub how: String,
}

impl ResolvedPod {
    pub fn containers(&self) -> Vec<String> {
        self.pod.spec.as_ref().map(|s| s.containers.iter().map(|c| c.name.clone()).collect()).unwrap_or_default()
    }

    pub fn phase(&self) -> String {
        self.pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into())
    }

    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        self.pod.metadata.labels.clone().unwrap_or_default()
    }

    pub fn service_account(&self) -> String {
        self.pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into())
    }

    /// Err unless the pod is Running and has `container`.
    pub fn require_container(&self, context: &str, container: &str) -> Result<(), ClusterError> {
        let containers = self.containers();
        if !containers.iter().any(|c| c == container) {
            return Err(ClusterError::ContainerNotFound {
                context: context.into(),
                namespace: self.namespace.clone(),
                pod: self.name.clone(),
                container: container.into(),
                available: containers.join(", "),
            });
        }
        if self.phase() != "Running" {
            return Err(ClusterError::PodNotRunning {
                context: context.into(),
                namespace: self.namespace.clone(),
                pod: self.name.clone(),
                phase: self.phase(),
            });
        }
        Ok(())
    }
}

/// Resolve a reference: an exact pod, a Deployment's first running pod, or the first running pod labelled
/// `app=NAME`.
pub async fn find_pod(cluster: &Cluster, r: &PodRef) -> Result<ResolvedPod, ClusterError> {
    let ns = r.namespace.clone().unwrap_or_else(|| cluster.default_namespace.clone());
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let map = |e| ClusterError::from_kube(&cluster.context, "get", "pods", Some(&ns), e);

    let (selector, how) =
        if let Some(deploy) = r.name.strip_prefix("deploy/").or_else(|| r.name.strip_prefix("deployment/")) {
            let deps: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
            let d = deps
                .get_opt(deploy)
                .await
                .map_err(|e| ClusterError::from_kube(&cluster.context, "get", "deployments", Some(&ns), e))?
                .ok_or_else(|| not_found(cluster, "deployment", deploy, &ns))?;
            let labels = d.spec.and_then(|s| s.selector.match_labels).unwrap_or_default();
            let sel = labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            (sel, format!("deployment {ns}/{deploy}"))
        } else {
            if let Some(pod) = pods.get_opt(&r.name).await.map_err(map)? {
                return Ok(ResolvedPod {
                    name: r.name.clone(),
                    namespace: ns.clone(),
                    how: format!("pod {ns}/{}", r.name),
                    pod,
                });
            }
            (format!("app={}", r.name), format!("label app={}", r.name))
        };
    let list = pods.list(&ListParams::default().labels(&selector)).await.map_err(map)?;
    let mut candidates: Vec<Pod> = list.items;
    // Prefer running pods, then the oldest, so repeated runs pick the same one.
    candidates.sort_by_key(|p| {
        let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        (!running, p.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()), p.metadata.name.clone())
    });
    let pod = candidates.into_iter().next().ok_or_else(|| not_found(cluster, "pod", &r.name, &ns))?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    Ok(ResolvedPod { how: format!("pod {ns}/{name} ({how}, selector {selector})"), name, namespace: ns, pod })
}

fn not_found(cluster: &Cluster, kind: &str, name: &str, ns: &str) -> ClusterError {
    ClusterError::NotFound {
        context: cluster.context.clone(),
        kind: kind.into(),
        name: name.into(),
        namespace: Some(ns.into()),
    }
}

/// The source of a probe: the pod, and the container to exec into — `-c` when given, else the first container
/// that is not `istio-proxy` (the application's, as the runbook's SOURCE_CONTAINER usually is). Errs unless the
/// pod is Running and has that container.
pub async fn probe_source(
    cluster: &Cluster,
    r: &PodRef,
    container: Option<&str>,
) -> Result<(ResolvedPod, String), ClusterError> {
    let pod = find_pod(cluster, r).await?;
    let container = match container {
        Some(name) => name.to_owned(),
        None => pod.containers().into_iter().find(|n| n != "istio-proxy").unwrap_or_else(|| "istio-proxy".into()),
    };
    pod.require_container(&cluster.context, &container)?;
    Ok((pod, container))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_refs() {
        assert_eq!(
            parse_pod_ref("sleep.legacy", None).unwrap(),
            PodRef { name: "sleep".into(), namespace: Some("legacy".into()) }
        );
        assert_eq!(
            parse_pod_ref("sleep", Some("foo")).unwrap(),
            PodRef { name: "sleep".into(), namespace: Some("foo".into()) }
        );
        assert_eq!(parse_pod_ref("deploy/sleep.legacy", None).unwrap().name, "deploy/sleep");
        assert!(parse_pod_ref("", None).is_err());
        assert!(parse_pod_ref("Sleep!", None).is_err());
        assert!(parse_pod_ref(".legacy", None).is_err());
    }
}
