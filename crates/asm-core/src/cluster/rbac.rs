//! Reading the RBAC chain from a cluster (ClusterRoles, bindings, the service account a Deployment runs
//! as) and asking the API server itself, with a SubjectAccessReview, whether a user may do something.
//! The judgement is pure and lives in checks::logs::rbac.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams};

use super::{Cluster, ClusterError};
use crate::checks::logs::{RbacObjects, SubjectAccess};

/// The service account a Deployment's pods run as (`default` when unset).
pub fn deployment_service_account(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.service_account_name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// Deployments matching a label selector in a namespace (`app=istiod`).
pub async fn deployments(cluster: &Cluster, namespace: &str, selector: &str) -> Result<Vec<Deployment>, ClusterError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
    api.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .map_err(|e| ClusterError::from_kube(&cluster.context, "list", "deployments", Some(namespace), e))
}

/// Everything the chain needs for one Deployment; `namespace` is the refused request's namespace, whose
/// Roles and RoleBindings are read too.
pub async fn rbac_objects(
    cluster: &Cluster,
    deployment: &Deployment,
    namespace: Option<&str>,
) -> Result<RbacObjects, ClusterError> {
    let dns = deployment.metadata.namespace.clone().unwrap_or_default();
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let c = cluster.client.clone();
    let ctx = &cluster.context;
    let lp = ListParams::default();
    let cluster_roles = Api::<ClusterRole>::all(c.clone())
        .list(&lp)
        .await
        .map_err(|e| ClusterError::from_kube(ctx, "list", "clusterroles", None, e))?
        .items;
    let cluster_role_bindings = Api::<ClusterRoleBinding>::all(c.clone())
        .list(&lp)
        .await
        .map_err(|e| ClusterError::from_kube(ctx, "list", "clusterrolebindings", None, e))?
        .items;
    let (mut roles, mut role_bindings) = (Vec::new(), Vec::new());
    if let Some(ns) = namespace {
        roles = Api::<Role>::namespaced(c.clone(), ns)
            .list(&lp)
            .await
            .map_err(|e| ClusterError::from_kube(ctx, "list", "roles", Some(ns), e))?
            .items;
        role_bindings = Api::<RoleBinding>::namespaced(c.clone(), ns)
            .list(&lp)
            .await
            .map_err(|e| ClusterError::from_kube(ctx, "list", "rolebindings", Some(ns), e))?
            .items;
    }
    Ok(RbacObjects {
        deployment: format!("{dns}/{name}"),
        service_account: (dns, deployment_service_account(deployment)),
        cluster_roles,
        cluster_role_bindings,
        role_bindings,
        roles,
    })
}

/// `kubectl auth can-i VERB RESOURCE.GROUP --as USER [-n NS]`, as a SubjectAccessReview (create).
pub async fn subject_access_review(
    cluster: &Cluster,
    user: &str,
    verb: &str,
    resource: &str,
    group: &str,
    namespace: Option<&str>,
) -> SubjectAccess {
    let (res, sub) = match resource.split_once('/') {
        Some((r, s)) => (r.to_owned(), Some(s.to_owned())),
        None => (resource.to_owned(), None),
    };
    // A service account's groups are implied by its name; the API server adds them for us only on real
    // requests, so name them here as the authenticator would.
    let groups = user.strip_prefix("system:serviceaccount:").and_then(|r| r.split_once(':')).map(|(ns, _)| {
        vec![
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".to_owned(),
        ]
    });
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_owned()),
            groups,
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                resource: Some(res),
                subresource: sub,
                group: Some(group.to_owned()),
                namespace: namespace.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(cluster.client.clone());
    match api.create(&PostParams::default(), &review).await {
        Ok(r) => {
            let s = r.status.unwrap_or_default();
            SubjectAccess {
                user: user.to_owned(),
                allowed: s.allowed,
                denied: s.denied.unwrap_or(false),
                reason: s.reason.unwrap_or_default(),
                evaluation_error: s.evaluation_error.unwrap_or_default(),
                error: None,
            }
        }
        Err(e) => SubjectAccess {
            user: user.to_owned(),
            error: Some(
                ClusterError::from_kube(
                    &cluster.context,
                    "create",
                    "subjectaccessreviews.authorization.k8s.io",
                    None,
                    e,
                )
                .to_string(),
            ),
            ..Default::default()
        },
    }
}
