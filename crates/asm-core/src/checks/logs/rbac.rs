//! The runbook's RBAC chain for a "cannot list resource" error, judged on objects read from the cluster:
//! which ClusterRoles grant the refused request, whether a ClusterRoleBinding or RoleBinding attaches one
//! of them to the service account istiod's Deployment really runs as, whether that is the user the log
//! names, and what the API server itself answered to a SubjectAccessReview.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject};
use serde::Serialize;

/// What was read from the cluster for one istiod Deployment.
#[derive(Debug, Clone, Default)]
pub struct RbacObjects {
    /// `istio-system/istiod` (Deployment namespace/name).
    pub deployment: String,
    /// `spec.template.spec.serviceAccountName` (`default` when unset) and its namespace.
    pub service_account: (String, String),
    pub cluster_roles: Vec<ClusterRole>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    /// RoleBindings and Roles of the namespace the request was in, when it was namespaced.
    pub role_bindings: Vec<RoleBinding>,
    pub roles: Vec<Role>,
}

/// The API server's answer to "may USER VERB RESOURCE in GROUP [in NS]?".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubjectAccess {
    pub user: String,
    pub allowed: bool,
    pub denied: bool,
    pub reason: String,
    pub evaluation_error: String,
    /// The review could not be created (our own permissions); the text says why.
    pub error: Option<String>,
}

/// One refused request, followed along the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RbacChain {
    pub deployment: String,
    pub verb: String,
    pub resource: String,
    pub api_group: String,
    pub namespace: Option<String>,
    /// The user the log line names.
    pub logged_user: String,
    /// `system:serviceaccount:NS:SA` from the Deployment.
    pub deployment_user: String,
    /// ClusterRoles (and Roles, as `Role ns/name`) whose rules grant the request.
    pub granting_roles: Vec<String>,
    /// istiod's own ClusterRoles present (`istiod-clusterrole-*`, `istiod-gateway-controller-*`, `istiod-*`).
    pub istiod_roles: Vec<String>,
    /// Bindings that attach a granting role to the Deployment's service account.
    pub granting_bindings: Vec<String>,
    /// Bindings that name the Deployment's service account at all (whatever role).
    pub sa_bindings: Vec<String>,
    pub subject_access: Option<SubjectAccess>,
    /// The object whose absence breaks the chain, as `kubectl get` names it (`ClusterRoleBinding
    /// istiod-clusterrole-istio-system`), when one can be named.
    pub missing: Option<String>,
    /// The first broken link, in words; `None` when the chain is complete.
    pub broken: Option<String>,
}

fn matches(list: &Option<Vec<String>>, want: &str) -> bool {
    list.as_ref().is_some_and(|l| l.iter().any(|x| x == "*" || x == want))
}

fn resource_matches(list: &[String], want: &str) -> bool {
    let (res, sub) = match want.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (want, None),
    };
    list.iter().any(|x| x == "*" || x == want || sub.is_some() && x == &format!("{res}/*") || sub.is_none() && x == res)
}

/// Does a rule grant `verb` on `resource` in `group` (list/watch cannot be narrowed by resourceNames)?
pub fn rule_grants(rule: &PolicyRule, verb: &str, resource: &str, group: &str) -> bool {
    rule.verbs.iter().any(|v| v == "*" || v == verb)
        && matches(&rule.api_groups, group)
        && rule.resources.as_ref().is_some_and(|r| resource_matches(r, resource))
        && (rule.resource_names.as_ref().is_none_or(|n| n.is_empty())
            || !matches!(verb, "list" | "watch" | "create" | "deletecollection"))
}

fn subject_is(s: &Subject, ns: &str, name: &str) -> bool {
    (s.kind == "ServiceAccount" && s.name == name && s.namespace.as_deref().unwrap_or("") == ns)
        || (s.kind == "User" && s.name == format!("system:serviceaccount:{ns}:{name}"))
        || (s.kind == "Group"
            && (s.name == "system:serviceaccounts"
                || s.name == format!("system:serviceaccounts:{ns}")
                || s.name == "system:authenticated"))
}

/// Follow one refused request along the chain.
pub fn judge_chain(
    objs: &RbacObjects,
    verb: &str,
    resource: &str,
    api_group: &str,
    namespace: Option<&str>,
    logged_user: &str,
    subject_access: Option<SubjectAccess>,
) -> RbacChain {
    let (sa_ns, sa_name) = (&objs.service_account.0, &objs.service_account.1);
    let deployment_user = format!("system:serviceaccount:{sa_ns}:{sa_name}");
    let name_of = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| m.name.clone().unwrap_or_default();
    let grants = |rules: &Option<Vec<PolicyRule>>| {
        rules.as_ref().is_some_and(|rs| rs.iter().any(|r| rule_grants(r, verb, resource, api_group)))
    };
    let granting_cr: Vec<String> =
        objs.cluster_roles.iter().filter(|c| grants(&c.rules)).map(|c| name_of(&c.metadata)).collect();
    let granting_roles_ns: Vec<String> =
        objs.roles.iter().filter(|r| grants(&r.rules)).map(|r| name_of(&r.metadata)).collect();
    let mut istiod_roles: Vec<String> = objs
        .cluster_roles
        .iter()
        .map(|c| name_of(&c.metadata))
        .filter(|n| n.starts_with("istiod-") || n.starts_with("istio-reader-"))
        .collect();
    istiod_roles.sort();
    let mut sa_bindings = Vec::new();
    let mut granting_bindings = Vec::new();
    for b in &objs.cluster_role_bindings {
        let to_sa = b.subjects.as_ref().is_some_and(|ss| ss.iter().any(|s| subject_is(s, sa_ns, sa_name)));
        if !to_sa {
            continue;
        }
        let label = format!("ClusterRoleBinding {} -> ClusterRole {}", name_of(&b.metadata), b.role_ref.name);
        if b.role_ref.kind == "ClusterRole" && granting_cr.contains(&b.role_ref.name) {
            granting_bindings.push(label.clone());
        }
        sa_bindings.push(label);
    }
    for b in &objs.role_bindings {
        let to_sa = b.subjects.as_ref().is_some_and(|ss| ss.iter().any(|s| subject_is(s, sa_ns, sa_name)));
        if !to_sa {
            continue;
        }
        let ns = b.metadata.namespace.clone().unwrap_or_default();
        let label = format!("RoleBinding {ns}/{} -> {} {}", name_of(&b.metadata), b.role_ref.kind, b.role_ref.name);
        let grants_it = (b.role_ref.kind == "ClusterRole" && granting_cr.contains(&b.role_ref.name))
            || (b.role_ref.kind == "Role" && granting_roles_ns.contains(&b.role_ref.name));
        if grants_it {
            granting_bindings.push(label.clone());
        }
        sa_bindings.push(label);
    }
    let mut granting_roles = granting_cr;
    granting_roles.extend(granting_roles_ns.iter().map(|r| format!("Role {r}")));
    let what = format!(
        "{verb} {resource:?} in API group {api_group:?}{}",
        namespace.map(|n| format!(" in namespace {n}")).unwrap_or_default()
    );
    // Istio's charts bind each of istiod's ClusterRoles to its service account with a ClusterRoleBinding of the
    // same name: when a granting istiod role has no binding to the account, that binding is what is missing.
    let istiod_granting: Vec<&String> = granting_roles.iter().filter(|r| r.starts_with("istiod-")).collect();
    let missing_binding = || {
        istiod_granting.first().map(|r| {
            match objs.cluster_role_bindings.iter().find(|b| b.metadata.name.as_deref() == Some(r.as_str())) {
                None => (
                    format!("ClusterRoleBinding {r}"),
                    format!("ClusterRoleBinding {r} is missing: nothing binds ClusterRole {r} to {deployment_user}"),
                ),
                Some(b) => {
                    let subjects: Vec<String> = b
                        .subjects
                        .iter()
                        .flatten()
                        .map(|s| match &s.namespace {
                            Some(n) => format!("{} {n}/{}", s.kind, s.name),
                            None => format!("{} {}", s.kind, s.name),
                        })
                        .collect();
                    (
                        format!("ClusterRoleBinding {r}"),
                        format!(
                            "ClusterRoleBinding {r} binds {} {} to [{}], not to {deployment_user}",
                            b.role_ref.kind,
                            b.role_ref.name,
                            subjects.join(", ")
                        ),
                    )
                }
            }
        })
    };
    let mut missing = None;
    let broken = if !logged_user.is_empty()
        && logged_user.starts_with("system:serviceaccount:")
        && logged_user != deployment_user
    {
        Some(format!("the log names {logged_user} but Deployment {} runs as {deployment_user}", objs.deployment))
    } else if granting_roles.is_empty() {
        Some(format!("no ClusterRole or Role grants {what}"))
    } else if granting_bindings.is_empty() {
        let named = missing_binding();
        missing = named.as_ref().map(|(m, _)| m.clone());
        Some(format!(
            "no binding attaches a role granting {what} to {deployment_user}{} (roles that grant it: {})",
            named.map(|(_, why)| format!(": {why}")).unwrap_or_default(),
            short_list(&granting_roles)
        ))
    } else {
        subject_access.as_ref().filter(|s| !s.allowed && s.error.is_none()).map(|sar| {
            format!(
                "the API server still denies it{}",
                if sar.reason.is_empty() { String::new() } else { format!(": {}", sar.reason) }
            )
        })
    };
    RbacChain {
        deployment: objs.deployment.clone(),
        verb: verb.into(),
        resource: resource.into(),
        api_group: api_group.into(),
        namespace: namespace.map(str::to_owned),
        logged_user: logged_user.into(),
        deployment_user,
        granting_roles,
        istiod_roles,
        granting_bindings,
        sa_bindings,
        subject_access,
        missing,
        broken,
    }
}

/// istiod's own roles first (they are the ones the runbook means), then at most three others and a count.
pub fn short_list(roles: &[String]) -> String {
    let (mut ours, others): (Vec<&String>, Vec<&String>) = roles.iter().partition(|r| r.starts_with("istiod-"));
    let extra = others.len().saturating_sub(3);
    ours.extend(others.into_iter().take(3));
    let mut s = ours.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
    if extra > 0 {
        s.push_str(&format!(" and {extra} more"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objs() -> RbacObjects {
        let cr: ClusterRole = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "istiod-clusterrole-istio-system"},
            "rules": [{"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list", "watch"]}]
        })).unwrap();
        let crb: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "istiod-clusterrole-istio-system"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "istiod-clusterrole-istio-system"},
            "subjects": [{"kind": "ServiceAccount", "name": "istiod", "namespace": "istio-system"}]
        })).unwrap();
        RbacObjects {
            deployment: "istio-system/istiod".into(),
            service_account: ("istio-system".into(), "istiod".into()),
            cluster_roles: vec![cr],
            cluster_role_bindings: vec![crb],
            ..Default::default()
        }
    }

    #[test]
    fn complete_chain_has_no_broken_link() {
        let c = judge_chain(
            &objs(),
            "list",
            "customresourcedefinitions",
            "apiextensions.k8s.io",
            None,
            "system:serviceaccount:istio-system:istiod",
            None,
        );
        assert_eq!(c.broken, None);
        assert_eq!(c.granting_bindings.len(), 1);
    }

    #[test]
    fn missing_binding_and_wrong_sa_are_named() {
        let mut o = objs();
        o.cluster_role_bindings.clear();
        let c = judge_chain(&o, "list", "customresourcedefinitions", "apiextensions.k8s.io", None, "", None);
        assert_eq!(c.missing.as_deref(), Some("ClusterRoleBinding istiod-clusterrole-istio-system"));
        assert!(c.broken.unwrap().contains("ClusterRoleBinding istiod-clusterrole-istio-system is missing"),);
        // Near miss: the binding exists under the expected name but names another account.
        let mut o = objs();
        o.cluster_role_bindings[0].subjects.as_mut().unwrap()[0].name = "other".into();
        let c = judge_chain(&o, "list", "customresourcedefinitions", "apiextensions.k8s.io", None, "", None);
        assert!(
            c.broken
                .unwrap()
                .contains("binds ClusterRole istiod-clusterrole-istio-system to [ServiceAccount istio-system/other]"),
        );
        let c = judge_chain(
            &objs(),
            "list",
            "customresourcedefinitions",
            "apiextensions.k8s.io",
            None,
            "system:serviceaccount:istio-system:istiod-service-account",
            None,
        );
        assert!(c.broken.unwrap().contains("runs as system:serviceaccount:istio-system:istiod"));
        let c = judge_chain(&objs(), "list", "secrets", "", None, "", None);
        assert!(c.broken.unwrap().starts_with("no ClusterRole or Role grants"));
    }
}
