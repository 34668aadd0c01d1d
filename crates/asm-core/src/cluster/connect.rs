//! Choosing clusters like kubectl: the kubeconfig (flag, KUBECONFIG, ~/.kube/config), one or many contexts,
//! impersonation and the request timeout, resolved once into a client per context before any check runs.

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::ClusterError;

/// What the user asked for on the command line, already validated.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub kubeconfig: Option<String>,
    pub contexts: Vec<String>,
    pub all_contexts: bool,
    pub impersonate: Option<String>,
    pub impersonate_groups: Vec<String>,
    pub request_timeout: Option<Duration>,
}

/// One cluster to run checks against.
#[derive(Clone)]
pub struct Cluster {
    pub context: String,
    pub client: kube::Client,
    /// The context's namespace, or `default`.
    pub default_namespace: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("context", &self.context).finish()
    }
}

fn read_kubeconfig(sel: &Selection) -> Result<Kubeconfig, ClusterError> {
    let kc = match &sel.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    };
    kc.map_err(|e| ClusterError::Kubeconfig(e.to_string()))
}

/// The context names a selection means, in the order given (current context when none).
pub fn context_names(sel: &Selection, kc: &Kubeconfig) -> Result<Vec<String>, ClusterError> {
    let known: Vec<String> = kc.contexts.iter().map(|c| c.name.clone()).collect();
    let names = if sel.all_contexts {
        known.clone()
    } else if !sel.contexts.is_empty() {
        let mut names = Vec::new();
        for c in &sel.contexts {
            if !known.contains(c) {
                return Err(ClusterError::UnknownContext { context: c.clone(), known: known.join(", ") });
            }
            if !names.contains(c) {
                names.push(c.clone());
            }
        }
        names
    } else {
        match &kc.current_context {
            Some(c) if !c.is_empty() => vec![c.clone()],
            _ => {
                return Err(ClusterError::Kubeconfig("no current-context is set; pass --context NAME".into()));
            }
        }
    };
    if names.is_empty() {
        return Err(ClusterError::Kubeconfig("the kubeconfig has no contexts".into()));
    }
    Ok(names)
}

/// A client per selected context. Connection problems surface on first use, per context, so one
/// unreachable cluster does not hide the others' results.
pub async fn connect_all(sel: &Selection) -> Result<Vec<Cluster>, ClusterError> {
    let kc = read_kubeconfig(sel)?;
    let timeout = sel.request_timeout.unwrap_or(Duration::from_secs(30));
    let mut clusters = Vec::new();
    for name in context_names(sel, &kc)? {
        let opts = KubeConfigOptions { context: Some(name.clone()), ..Default::default() };
        let mut config = kube::Config::from_custom_kubeconfig(kc.clone(), &opts)
            .await
            .map_err(|e| ClusterError::Kubeconfig(format!("context {name}: {e}")))?;
        if let Some(user) = &sel.impersonate {
            config.auth_info.impersonate = Some(user.clone());
        }
        if !sel.impersonate_groups.is_empty() {
            config.auth_info.impersonate_groups = Some(sel.impersonate_groups.clone());
        }
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        let default_namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config)
            .map_err(|e| ClusterError::Kubeconfig(format!("context {name}: cannot build a client: {e}")))?;
        clusters.push(Cluster { context: name, client, default_namespace, timeout });
    }
    Ok(clusters)
}

/// The context names a selection means, read from the kubeconfig without contacting any cluster (for
/// `--print-commands`).
pub fn selected_contexts(sel: &Selection) -> Result<Vec<String>, ClusterError> {
    let kc = read_kubeconfig(sel)?;
    context_names(sel, &kc)
}
