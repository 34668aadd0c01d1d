//! What a cluster says it trusts: the mesh's trust domain (meshConfig.trustDomain in the `istio` ConfigMap)
//! and the roots istiod publishes to every namespace as the `istio-ca-root-cert` ConfigMap.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

use super::{Cluster, ClusterError};

/// The trust domain Istio uses when meshConfig sets none.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// `(trust domain, where it came from)`: meshConfig.trustDomain from ConfigMap `istio` in `istio_namespace`
/// (revisioned installs name it `istio-REV`), or Istio's default when absent.
pub async fn mesh_trust_domain(
    cluster: &Cluster,
    istio_namespace: &str,
    revision: Option<&str>,
) -> Result<(String, String), ClusterError> {
    let name = match revision {
        Some(r) if !r.is_empty() && r != "default" => format!("istio-{r}"),
        _ => "istio".to_owned(),
    };
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), istio_namespace);
    let cm = api
        .get_opt(&name)
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "get", "configmaps", Some(istio_namespace), e))?;
    let mesh = cm.as_ref().and_then(|c| c.data.as_ref()).and_then(|d| d.get("mesh")).cloned();
    let source = format!("ConfigMap {istio_namespace}/{name} mesh.trustDomain");
    let Some(mesh) = mesh else {
        return Ok((
            DEFAULT_TRUST_DOMAIN.into(),
            format!("Istio's default (no ConfigMap {istio_namespace}/{name} with a mesh key)"),
        ));
    };
    let td = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&mesh)
        .ok()
        .and_then(|v| v.get("trustDomain").and_then(|t| t.as_str().map(str::to_owned)))
        .filter(|t| !t.is_empty());
    Ok(match td {
        Some(td) => (td, source),
        None => (
            DEFAULT_TRUST_DOMAIN.into(),
            format!("Istio's default (ConfigMap {istio_namespace}/{name} sets no trustDomain)"),
        ),
    })
}

/// `root-cert.pem` of `istio-ca-root-cert` in one namespace; `None` when the ConfigMap is absent.
pub async fn root_cert_pem(cluster: &Cluster, namespace: &str) -> Result<Option<String>, ClusterError> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), namespace);
    let cm = api
        .get_opt("istio-ca-root-cert")
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "get", "configmaps", Some(namespace), e))?;
    Ok(cm.and_then(|c| c.data).and_then(|d| d.get("root-cert.pem").cloned()))
}

/// Every `istio-ca-root-cert` in the cluster (or one namespace): `(namespace, root-cert.pem)`.
pub async fn all_root_certs(cluster: &Cluster, namespace: Option<&str>) -> Result<Vec<(String, String)>, ClusterError> {
    let api: Api<ConfigMap> = match namespace {
        Some(ns) => Api::namespaced(cluster.client.clone(), ns),
        None => Api::all(cluster.client.clone()),
    };
    let list = api
        .list(&ListParams::default().fields("metadata.name=istio-ca-root-cert"))
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "list", "configmaps", namespace, e))?;
    let mut out: Vec<(String, String)> = list
        .items
        .into_iter()
        .map(|c| {
            let ns = c.metadata.namespace.clone().unwrap_or_default();
            let pem = c.data.and_then(|d| d.get("root-cert.pem").cloned()).unwrap_or_default();
            (ns, pem)
        })
        .collect();
    out.sort();
    Ok(out)
}
