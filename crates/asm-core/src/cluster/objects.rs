//! Reading Istio's own resources. They are CRDs, so they are read as dynamic objects and handed to the pure
//! layer as JSON, the same shape `kubectl get -o json` prints and `-f` files contain.

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;

use super::{Cluster, ClusterError};

/// The Istio kinds the checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IstioKind {
    PeerAuthentication,
    AuthorizationPolicy,
    RequestAuthentication,
}

impl IstioKind {
    fn gvk(self, version: &str) -> (GroupVersionKind, &'static str) {
        let (kind, plural) = match self {
            IstioKind::PeerAuthentication => ("PeerAuthentication", "peerauthentications"),
            IstioKind::AuthorizationPolicy => ("AuthorizationPolicy", "authorizationpolicies"),
            IstioKind::RequestAuthentication => ("RequestAuthentication", "requestauthentications"),
        };
        (GroupVersionKind::gvk("security.istio.io", version, kind), plural)
    }

    pub fn plural(self) -> &'static str {
        self.gvk("v1").1
    }
}

/// List an Istio kind in one namespace or (None) all. `security.istio.io/v1` is served since Istio 1.22;
/// older control planes only serve v1beta1, so fall back to it.
pub async fn list_dynamic(
    cluster: &Cluster,
    kind: IstioKind,
    namespace: Option<&str>,
) -> Result<Vec<serde_json::Value>, ClusterError> {
    let mut last = None;
    for version in ["v1", "v1beta1"] {
        let (gvk, plural) = kind.gvk(version);
        let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(cluster.client.clone(), ns, &ar),
            None => Api::all_with(cluster.client.clone(), &ar),
        };
        match api.list(&ListParams::default()).await {
            Ok(list) => {
                return Ok(list.items.into_iter().map(|o| serde_json::to_value(o).unwrap_or_default()).collect());
            }
            Err(kube::Error::Api(s)) if s.code == 404 => last = Some(kube::Error::Api(s)),
            Err(e) => {
                return Err(ClusterError::from_kube(
                    &cluster.context,
                    "list",
                    &format!("{plural}.security.istio.io"),
                    namespace,
                    e,
                ));
            }
        }
    }
    Err(match last {
        Some(_) => ClusterError::NotFound {
            context: cluster.context.clone(),
            kind: "CustomResourceDefinition".into(),
            name: format!("{}.security.istio.io", kind.plural()),
            namespace: None,
        },
        None => ClusterError::Api {
            context: cluster.context.clone(),
            what: "list".into(),
            message: "no API version answered".into(),
        },
    })
}
