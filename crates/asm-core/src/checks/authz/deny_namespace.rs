//! The runbook's remedy when policies are not enforced: a deny-everything AuthorizationPolicy for a
//! namespace. Its spec is empty — an ALLOW policy with no rules matches nothing, so every request to every
//! workload in the namespace is denied. Named `deny-<NAMESPACE>` after the runbook's `deny-authz-ns`.

use serde_json::{Value, json};

use crate::model::{CheckId, Finding, Status};

/// The field manager for server-side apply, so re-applying is recognised as the same owner.
pub const FIELD_MANAGER: &str = "kubectl-asm";

pub fn policy_name(namespace: &str) -> String {
    format!("deny-{namespace}")
}

pub fn policy(namespace: &str) -> Value {
    json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": policy_name(namespace), "namespace": namespace},
        "spec": {},
    })
}

/// The YAML printed by default, ready for `kubectl apply -f -`.
pub fn yaml(namespace: &str, root_namespace: &str) -> String {
    let mut out = String::from(
        "# Deny every request to every workload in the namespace: an AuthorizationPolicy with an empty spec\n\
         # is an ALLOW policy without rules, which matches nothing.\n",
    );
    if namespace == root_namespace {
        out.push_str(&format!(
            "# WARNING: {namespace} is the mesh root namespace: this denies every request in the WHOLE MESH.\n"
        ));
    }
    out.push_str(&serde_yaml_ng::to_string(&policy(namespace)).unwrap_or_default());
    out
}

/// What applying changed, read from the object before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Created,
    Configured,
    Unchanged,
}

/// Tell the change apart by the object before and the server's answer: same resourceVersion means the
/// apply was a no-op.
pub fn change(before: Option<&Value>, after: &Value) -> Change {
    let rv = |v: &Value| v.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_owned);
    match before {
        None => Change::Created,
        Some(b) if rv(b).is_some() && rv(b) == rv(after) => Change::Unchanged,
        Some(_) => Change::Configured,
    }
}

/// The spec of an existing policy of the same name, when it is not the deny-all one: applying would
/// replace the fields we manage, and the operator should know what was there.
pub fn conflicting_spec(before: Option<&Value>) -> Option<Value> {
    let spec = before?.get("spec")?;
    let empty = spec.as_object().is_none_or(|m| m.is_empty());
    (!empty).then(|| spec.clone())
}

/// The finding after `--apply` (or its dry run).
pub fn finding(context: &str, namespace: &str, change: Change, dry_run: bool, commands: Vec<String>) -> Finding {
    let name = policy_name(namespace);
    let what = match (change, dry_run) {
        (Change::Unchanged, _) => "unchanged",
        (Change::Created, true) => "would be created (server dry run)",
        (Change::Configured, true) => "would be configured (server dry run)",
        (Change::Created, false) => "created",
        (Change::Configured, false) => "configured",
    };
    let mut f = Finding::new(CheckId::AuthzDenyNamespace, context, format!("{namespace}/{name}"))
        .status(Status::Pass, format!("AuthorizationPolicy {namespace}/{name} {what}"))
        .evidence(
            "every request to workloads in the namespace is now denied unless another ALLOW policy allows it"
                .to_owned(),
        )
        .remediation(format!(
            "verify: kubectl asm-authz verify --from SOURCE_POD --to SERVICE.{namespace} --expect deny"
        ))
        .remediation(format!("undo: kubectl delete authorizationpolicy {name} -n {namespace} --context={context}"));
    if dry_run {
        f.evidence[0] = "nothing changed: server-side dry run only".into();
    }
    f.commands = commands;
    f.data = json!({"namespace": namespace, "name": name, "change": change, "dry_run": dry_run});
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_is_the_runbooks_policy() {
        let y = yaml("authz-ns", "istio-system");
        let v: Value = serde_yaml_ng::from_str(&y).unwrap();
        assert_eq!(v, policy("authz-ns"));
        assert_eq!(v["metadata"]["name"], "deny-authz-ns");
        assert_eq!(v["apiVersion"], "security.istio.io/v1");
        assert_eq!(v["spec"], json!({}));
        assert!(!y.contains("WARNING"));
        assert!(yaml("istio-system", "istio-system").contains("WHOLE MESH"));
    }

    #[test]
    fn change_from_resource_versions() {
        let v = |rv: &str| json!({"metadata": {"resourceVersion": rv}});
        assert_eq!(change(None, &v("1")), Change::Created);
        assert_eq!(change(Some(&v("5")), &v("5")), Change::Unchanged);
        assert_eq!(change(Some(&v("5")), &v("6")), Change::Configured);
        assert_eq!(change(Some(&json!({})), &json!({})), Change::Configured);
    }

    #[test]
    fn existing_spec_is_flagged() {
        assert_eq!(conflicting_spec(None), None);
        assert_eq!(conflicting_spec(Some(&json!({"spec": {}}))), None);
        assert!(conflicting_spec(Some(&json!({"spec": {"action": "DENY"}}))).is_some());
    }
}
