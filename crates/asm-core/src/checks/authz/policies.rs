//! Which AuthorizationPolicies apply to a workload, in the order the proxy evaluates them: CUSTOM, then DENY,
//! then ALLOW (AUDIT only logs). A policy applies when it is in the workload's namespace and selects it (or
//! selects nothing: namespace-wide), when it is in the mesh root namespace (mesh-wide, selector permitting),
//! or when its `targetRefs` name a Service that selects the pod or the Gateway the pod runs.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{CheckId, Finding, Status};

/// The Gateway API label on a gateway's pods, naming their Gateway.
const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";

/// The policy's action; Istio's default is ALLOW.
pub fn action_of(policy: &Value) -> &str {
    policy.pointer("/spec/action").and_then(Value::as_str).unwrap_or("ALLOW")
}

/// What the checks need to know about the workload.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Services in the pod's namespace whose selector matches the pod (for `targetRefs` of kind Service).
    pub services: Vec<String>,
}

/// One policy that applies, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applicable {
    /// `NAMESPACE/NAME`.
    pub policy: String,
    pub action: String,
    pub rules: usize,
    /// How it reaches the workload: `namespace-wide`, `selector app=httpbin`, `mesh-wide (root namespace)`,
    /// `targetRef Service/httpbin`.
    pub applies: String,
    /// `istio.io/dry-run: "true"`: evaluated and logged, never enforced.
    pub dry_run: bool,
    pub provider: Option<String>,
}

fn str_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

fn selector_text(sel: &BTreeMap<String, String>) -> String {
    sel.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Why `policy` applies to `w`, or `None`.
fn applies(policy: &Value, w: &Workload, root_namespace: &str) -> Option<String> {
    let ns = policy.pointer("/metadata/namespace").and_then(Value::as_str)?;
    let spec = policy.get("spec");
    let mut refs: Vec<&Value> = spec
        .and_then(|s| s.get("targetRefs"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if let Some(r) = spec.and_then(|s| s.get("targetRef")) {
        refs.push(r);
    }
    if !refs.is_empty() {
        // targetRefs replace the selector, and only reach objects in the policy's own namespace.
        if ns != w.namespace {
            return None;
        }
        return refs.iter().find_map(|r| {
            let kind = r.get("kind").and_then(Value::as_str)?;
            let name = r.get("name").and_then(Value::as_str)?;
            let hit = match kind {
                "Service" => w.services.iter().any(|s| s == name),
                "Gateway" => w.labels.get(GATEWAY_NAME_LABEL).map(String::as_str) == Some(name),
                _ => false,
            };
            hit.then(|| format!("targetRef {kind}/{name}"))
        });
    }
    let selector = str_map(spec.and_then(|s| s.pointer("/selector/matchLabels")));
    let selected = selector.iter().all(|(k, v)| w.labels.get(k) == Some(v));
    if !selected {
        return None;
    }
    let scope = if ns == w.namespace {
        if selector.is_empty() { "namespace-wide".to_owned() } else { format!("selector {}", selector_text(&selector)) }
    } else if ns == root_namespace {
        if selector.is_empty() {
            "mesh-wide (root namespace)".to_owned()
        } else {
            format!("mesh-wide (root namespace), selector {}", selector_text(&selector))
        }
    } else {
        return None;
    };
    Some(scope)
}

fn order(action: &str) -> u8 {
    match action {
        "CUSTOM" => 0,
        "DENY" => 1,
        "ALLOW" => 2,
        _ => 3,
    }
}

/// Every policy that applies to `w`, in evaluation order (CUSTOM, DENY, ALLOW, then AUDIT), root-namespace
/// policies before the workload's own within an action.
pub fn applicable(policies: &[Value], w: &Workload, root_namespace: &str) -> Vec<Applicable> {
    let mut out: Vec<Applicable> = policies
        .iter()
        .filter_map(|p| {
            let how = applies(p, w, root_namespace)?;
            let ns = p.pointer("/metadata/namespace").and_then(Value::as_str)?;
            let name = p.pointer("/metadata/name").and_then(Value::as_str)?;
            Some(Applicable {
                policy: format!("{ns}/{name}"),
                action: action_of(p).to_owned(),
                rules: p.pointer("/spec/rules").and_then(Value::as_array).map_or(0, Vec::len),
                applies: how,
                dry_run: p.pointer("/metadata/annotations/istio.io~1dry-run").and_then(Value::as_str) == Some("true"),
                provider: p.pointer("/spec/provider/name").and_then(Value::as_str).map(str::to_owned),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        let root = |x: &Applicable| !x.policy.starts_with(&format!("{root_namespace}/"));
        order(&a.action).cmp(&order(&b.action)).then(root(a).cmp(&root(b))).then(a.policy.cmp(&b.policy))
    });
    out
}

/// The `authz.policies` finding for one workload.
pub fn finding(context: &str, w: &Workload, root_namespace: &str, policies: &[Value]) -> Finding {
    let list = applicable(policies, w, root_namespace);
    let target = format!("{}/{}", w.namespace, w.name);
    let count = |a: &str| list.iter().filter(|p| p.action == a && !p.dry_run).count();
    let (custom, deny, allow, audit) = (count("CUSTOM"), count("DENY"), count("ALLOW"), count("AUDIT"));
    let mut f = Finding::new(CheckId::AuthzPolicies, context, &target).status(
        Status::Pass,
        if list.is_empty() {
            format!("no AuthorizationPolicy applies to {target}: every request is allowed")
        } else {
            // The order is the answer an operator looks for, and a table shows only the first evidence
            // line, so it goes into the summary too.
            format!(
                "{} AuthorizationPolicies apply to {target}: {custom} CUSTOM, {deny} DENY, {allow} ALLOW, {audit} AUDIT; in order: {}",
                list.len(),
                list.iter()
                    .map(|p| format!("{} {}", p.action, p.policy))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    );
    let mut step = 0;
    for p in &list {
        let mark = if p.dry_run {
            "dry-run, not enforced".to_owned()
        } else if p.action == "AUDIT" {
            "logs only".to_owned()
        } else {
            step += 1;
            format!("{step}.")
        };
        let provider = p.provider.as_ref().map(|n| format!(", provider {n}")).unwrap_or_default();
        let empty = if p.rules == 0 && p.action == "ALLOW" {
            " — no rules: allows nothing (deny-all)"
        } else if p.rules == 0 {
            " — no rules: matches nothing"
        } else {
            ""
        };
        f = f.evidence(format!("{mark} {} {} ({} rules, {}{provider}){empty}", p.action, p.policy, p.rules, p.applies));
    }
    f = f.evidence(if allow == 0 {
        "no ALLOW policy applies: a request that no CUSTOM or DENY policy stops is allowed (default allow)".to_owned()
    } else {
        "ALLOW policies apply: a request must match a rule of one of them, anything else is denied (rbac_access_denied_matched_policy[none])".to_owned()
    });
    f.data = json!({
        "workload": {"namespace": w.namespace, "name": w.name, "labels": w.labels, "services": w.services},
        "root_namespace": root_namespace,
        "policies": list,
        "default_allow": allow == 0,
    });
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ns: &str, name: &str, spec: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}, "spec": spec})
    }

    fn httpbin() -> Workload {
        Workload {
            namespace: "authz-ns".into(),
            name: "httpbin-1".into(),
            labels: [("app".to_owned(), "httpbin".to_owned())].into(),
            services: vec!["httpbin".into()],
        }
    }

    fn all() -> Vec<Value> {
        vec![
            p("authz-ns", "allow-get", json!({"rules": [{}]})),
            p(
                "authz-ns",
                "deny-delete",
                json!({"action": "DENY", "selector": {"matchLabels": {"app": "httpbin"}}, "rules": [{}, {}]}),
            ),
            p(
                "authz-ns",
                "deny-other-app",
                json!({"action": "DENY", "selector": {"matchLabels": {"app": "sleep"}}, "rules": [{}]}),
            ),
            p("istio-system", "mesh-deny", json!({"action": "DENY", "rules": [{}]})),
            p("other-ns", "elsewhere", json!({"action": "DENY"})),
            p("authz-ns", "ext", json!({"action": "CUSTOM", "provider": {"name": "opa"}, "rules": [{}]})),
            p("authz-ns", "audit", json!({"action": "AUDIT", "rules": [{}]})),
            p(
                "authz-ns",
                "by-service",
                json!({"action": "DENY", "targetRefs": [{"kind": "Service", "group": "", "name": "httpbin"}], "rules": [{}]}),
            ),
            p(
                "authz-ns",
                "by-other-service",
                json!({"action": "DENY", "targetRefs": [{"kind": "Service", "name": "sleep"}], "selector": {"matchLabels": {"app": "httpbin"}}}),
            ),
            p("authz-ns", "by-gateway", json!({"action": "DENY", "targetRef": {"kind": "Gateway", "name": "gw"}})),
        ]
    }

    #[test]
    fn evaluation_order_custom_deny_allow_then_audit() {
        let got: Vec<(String, String, String)> = applicable(&all(), &httpbin(), "istio-system")
            .into_iter()
            .map(|a| (a.action, a.policy, a.applies))
            .collect();
        assert_eq!(
            got,
            vec![
                ("CUSTOM".into(), "authz-ns/ext".into(), "namespace-wide".into()),
                ("DENY".into(), "istio-system/mesh-deny".into(), "mesh-wide (root namespace)".into()),
                ("DENY".into(), "authz-ns/by-service".into(), "targetRef Service/httpbin".into()),
                ("DENY".into(), "authz-ns/deny-delete".into(), "selector app=httpbin".into()),
                ("ALLOW".into(), "authz-ns/allow-get".into(), "namespace-wide".into()),
                ("AUDIT".into(), "authz-ns/audit".into(), "namespace-wide".into()),
            ]
        );
    }

    #[test]
    fn gateway_target_ref_reaches_only_that_gateways_pods() {
        let mut gw = httpbin();
        gw.labels.insert(GATEWAY_NAME_LABEL.into(), "gw".into());
        gw.services.clear();
        let got: Vec<String> = applicable(&all(), &gw, "istio-system").into_iter().map(|a| a.policy).collect();
        assert!(got.contains(&"authz-ns/by-gateway".to_owned()));
        assert!(!got.contains(&"authz-ns/by-service".to_owned()));
    }

    #[test]
    fn default_allow_and_deny_all_notes() {
        let f = finding("c", &httpbin(), "istio-system", &[]);
        assert!(f.summary.contains("every request is allowed"));
        assert_eq!(f.data["default_allow"], true);
        let deny_all = vec![p("authz-ns", "deny-authz-ns", json!({}))];
        let f = finding("c", &httpbin(), "istio-system", &deny_all);
        assert_eq!(f.data["default_allow"], false);
        assert!(
            f.evidence[0].contains(
                "1. ALLOW authz-ns/deny-authz-ns (0 rules, namespace-wide) — no rules: allows nothing (deny-all)"
            ),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn dry_run_is_listed_not_counted() {
        let mut dr = p("authz-ns", "try-deny", json!({"action": "DENY", "rules": [{}]}));
        dr["metadata"]["annotations"] = json!({"istio.io/dry-run": "true"});
        let f = finding("c", &httpbin(), "istio-system", &[dr]);
        assert!(f.summary.contains("0 DENY"));
        assert!(f.summary.ends_with("; in order: DENY authz-ns/try-deny"), "{}", f.summary);
        assert!(f.evidence[0].starts_with("dry-run, not enforced DENY"));
    }
}
