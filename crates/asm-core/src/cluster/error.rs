//! Cluster failures in the operator's terms: which context, which object, what to try.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read kubeconfig: {0}. Pass --kubeconfig PATH or set KUBECONFIG")]
    Kubeconfig(String),
    #[error("context {context:?} is not in the kubeconfig (known: {known})")]
    UnknownContext { context: String, known: String },
    #[error(
        "[{context}] cannot reach the API server: {message}. Check the context's server address and your network, or raise --request-timeout"
    )]
    Unreachable { context: String, message: String },
    #[error("[{context}] forbidden: cannot {verb} {resource}{ns}. Check with: kubectl auth can-i {verb} {resource}{ns_flag} --context={context}", ns = in_ns(.namespace), ns_flag = ns_flag(.namespace))]
    Forbidden { context: String, verb: String, resource: String, namespace: Option<String> },
    #[error("[{context}] {kind} {name:?} not found{ns}", ns = in_ns(.namespace))]
    NotFound { context: String, kind: String, name: String, namespace: Option<String> },
    #[error(
        "[{context}] pod {namespace}/{pod} has no container {container:?} (containers: {available}). Choose one with -c"
    )]
    ContainerNotFound { context: String, namespace: String, pod: String, container: String, available: String },
    #[error("[{context}] pod {namespace}/{pod} is {phase}, not Running: nothing can be exec'd into it")]
    PodNotRunning { context: String, namespace: String, pod: String, phase: String },
    #[error(
        "[{context}] {what} did not finish within {after:?}; raise the timeout or check the API server and the pod"
    )]
    Timeout { context: String, what: String, after: Duration },
    #[error("[{context}] {what}: {message}")]
    Api { context: String, what: String, message: String },
}

fn in_ns(ns: &Option<String>) -> String {
    ns.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default()
}

fn ns_flag(ns: &Option<String>) -> String {
    ns.as_ref().map(|n| format!(" -n {n}")).unwrap_or_default()
}

impl ClusterError {
    /// Map a kube error from `verb resource` into the operator's terms.
    pub fn from_kube(context: &str, verb: &str, resource: &str, namespace: Option<&str>, err: kube::Error) -> Self {
        let ns = namespace.map(str::to_owned);
        match err {
            kube::Error::Api(s) if s.code == 403 => ClusterError::Forbidden {
                context: context.into(),
                verb: verb.into(),
                resource: resource.into(),
                namespace: ns,
            },
            kube::Error::Api(s) if s.code == 401 => ClusterError::Api {
                context: context.into(),
                what: format!("{verb} {resource}"),
                message: format!(
                    "unauthorized: the credentials of this context were refused ({}); log in again",
                    s.message
                ),
            },
            kube::Error::Api(s) if s.code == 404 => ClusterError::NotFound {
                context: context.into(),
                kind: resource.into(),
                name: s.details.as_ref().map(|d| d.name.clone()).unwrap_or_default(),
                namespace: ns,
            },
            kube::Error::UpgradeConnection(kube::client::UpgradeConnectionError::ProtocolSwitch(code))
                if code.as_u16() == 403 =>
            {
                ClusterError::Forbidden {
                    context: context.into(),
                    verb: verb.into(),
                    resource: resource.into(),
                    namespace: ns,
                }
            }
            kube::Error::Api(s) => {
                ClusterError::Api { context: context.into(), what: format!("{verb} {resource}"), message: s.message }
            }
            kube::Error::HyperError(e) => ClusterError::Unreachable { context: context.into(), message: e.to_string() },
            kube::Error::Service(e) => ClusterError::Unreachable { context: context.into(), message: flatten(&*e) },
            other => ClusterError::Api {
                context: context.into(),
                what: format!("{verb} {resource}"),
                message: flatten(&other),
            },
        }
    }
}

/// The whole `source()` chain in one line: the innermost cause is usually the useful one.
fn flatten(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}
