//! The cluster side of asm-authz: does a namespace exist, which Services select a pod (for `targetRefs`),
//! and applying an AuthorizationPolicy with server-side apply, dry run first.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;

use super::{Cluster, ClusterError};

const PLURAL: &str = "authorizationpolicies";

fn policies(cluster: &Cluster, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("security.istio.io", "v1", "AuthorizationPolicy");
    let ar = ApiResource::from_gvk_with_plural(&gvk, PLURAL);
    Api::namespaced_with(cluster.client.clone(), namespace, &ar)
}

fn map(cluster: &Cluster, verb: &str, namespace: &str, e: kube::Error) -> ClusterError {
    ClusterError::from_kube(&cluster.context, verb, "authorizationpolicies.security.istio.io", Some(namespace), e)
}

pub async fn namespace_exists(cluster: &Cluster, name: &str) -> Result<bool, ClusterError> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    api.get_opt(name)
        .await
        .map(|n| n.is_some())
        .map_err(|e| ClusterError::from_kube(&cluster.context, "get", "namespaces", None, e))
}

/// The AuthorizationPolicy as JSON, or `None` when it does not exist.
pub async fn get_policy(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> Result<Option<serde_json::Value>, ClusterError> {
    let found = policies(cluster, namespace).get_opt(name).await.map_err(|e| map(cluster, "get", namespace, e))?;
    Ok(found.map(|o| serde_json::to_value(o).unwrap_or_default()))
}

/// Server-side apply `object` (which names its own namespace and name) as `field_manager`; with `dry_run`
/// the API server validates and answers without storing anything.
pub async fn apply_policy(
    cluster: &Cluster,
    object: &serde_json::Value,
    field_manager: &str,
    dry_run: bool,
) -> Result<serde_json::Value, ClusterError> {
    let field = |p: &str| object.pointer(p).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    let (namespace, name) = (field("/metadata/namespace"), field("/metadata/name"));
    let mut params = PatchParams::apply(field_manager);
    params.dry_run = dry_run;
    let applied = policies(cluster, &namespace)
        .patch(&name, &params, &Patch::Apply(object))
        .await
        .map_err(|e| map(cluster, "patch", &namespace, e))?;
    Ok(serde_json::to_value(applied).unwrap_or_default())
}

/// Names of the Services in `namespace` whose selector matches `labels`.
pub async fn services_selecting(
    cluster: &Cluster,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<String>, ClusterError> {
    let api: Api<Service> = Api::namespaced(cluster.client.clone(), namespace);
    let list = api
        .list(&Default::default())
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "list", "services", Some(namespace), e))?;
    Ok(list
        .items
        .into_iter()
        .filter(|s| {
            let sel = s.spec.as_ref().and_then(|s| s.selector.as_ref());
            sel.is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
        })
        .filter_map(|s| s.metadata.name)
        .collect())
}
