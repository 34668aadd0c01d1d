//! "Authorization policy denial logging": which policy and rule denied which requests, told apart from the
//! application's own 403s and from ALLOW policies that matched nothing.
//!
//! Envoy names the deciding RBAC policy in `response_code_details` (HTTP) or `connection_termination_details`
//! (TCP): `rbac_access_denied_matched_policy[ns[NS]-policy[NAME]-rule[IDX]]` when a DENY policy matched,
//! `rbac_access_denied_matched_policy[none]` when ALLOW policies exist but none matched. Cloud Logging says
//! the same with labels `response_details=AuthzDenied`, `policy_name=NS.NAME`, `policy_rule=IDX`.
//! Every policy is printed in one form, `NAMESPACE/NAME rule[IDX]` (docs/asm-authz.md).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{CheckId, Finding, Status};
use crate::parse::access_log::AccessRecord;

const MATCHED_POLICY: &str = "rbac_access_denied_matched_policy[";
/// Distinct values kept per tally; the rest are counted as "other", so memory stays bounded.
const TALLY_CAP: usize = 16;

/// A rule of an AuthorizationPolicy, as Envoy and Cloud Logging name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PolicyRule {
    pub namespace: String,
    pub name: String,
    pub rule: u32,
}

impl std::fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} rule[{}]", self.namespace, self.name, self.rule)
    }
}

/// Why a request was denied (or not).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum Cause {
    /// A DENY policy's rule matched.
    PolicyDeny { policy: PolicyRule },
    /// ALLOW policies apply to the workload and none matched (`matched_policy[none]`).
    NoAllowMatch,
    /// A CUSTOM (ext_authz) provider said no.
    Custom { details: String },
    /// An RBAC denial whose policy name is not istiod's form (a hand-written EnvoyFilter, say).
    OtherRbac { policy: String },
    /// The application answered 403 itself; no mesh policy involved.
    Application,
}

/// istiod's RBAC policy name: `ns[NS]-policy[NAME]-rule[IDX]`, possibly after a CUSTOM provider prefix.
pub fn parse_policy_name(s: &str) -> Option<PolicyRule> {
    let at = s.find("ns[")?;
    let rest = &s[at + 3..];
    let (namespace, rest) = rest.split_once("]-policy[")?;
    let (name, rule) = rest.rsplit_once("]-rule[")?;
    let rule = rule.strip_suffix(']')?.parse().ok()?;
    if namespace.is_empty() || name.is_empty() {
        return None;
    }
    Some(PolicyRule { namespace: namespace.to_owned(), name: name.to_owned(), rule })
}

/// Cloud Logging's `policy_name` (`NS.NAME`; a namespace has no dots) and `policy_rule`.
pub fn parse_cloud_policy(name: &str, rule: Option<&str>) -> Option<PolicyRule> {
    let (namespace, name) = name.split_once('.')?;
    let rule = rule?.trim().parse().ok()?;
    (!namespace.is_empty() && !name.is_empty()).then(|| PolicyRule {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        rule,
    })
}

fn from_envoy_details(details: &str) -> Option<Cause> {
    let at = details.find(MATCHED_POLICY)?;
    let inner = &details[at + MATCHED_POLICY.len()..];
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    if inner == "none" {
        return Some(Cause::NoAllowMatch);
    }
    Some(match parse_policy_name(inner) {
        Some(policy) => Cause::PolicyDeny { policy },
        None => Cause::OtherRbac { policy: inner.to_owned() },
    })
}

/// The denial cause of one record, or `None` when the request was not denied.
pub fn classify(r: &AccessRecord) -> Option<Cause> {
    if let Some(labels) = &r.cloud_labels
        && labels.response_details.as_deref() == Some("AuthzDenied")
    {
        return Some(
            match labels.policy_name.as_deref().and_then(|n| parse_cloud_policy(n, labels.policy_rule.as_deref())) {
                Some(policy) => Cause::PolicyDeny { policy },
                None => match &labels.policy_name {
                    Some(p) => Cause::OtherRbac { policy: p.clone() },
                    None => Cause::NoAllowMatch,
                },
            },
        );
    }
    for d in [&r.response_code_details, &r.connection_termination_details].into_iter().flatten() {
        if let Some(c) = from_envoy_details(d) {
            return Some(c);
        }
    }
    let details = r.response_code_details.as_deref().unwrap_or_default();
    if details.starts_with("ext_authz") {
        return Some(Cause::Custom { details: details.to_owned() });
    }
    if r.response_code == Some(403) {
        // via_upstream: the answer came from the application, not from a filter in the proxy.
        return Some(Cause::Application);
    }
    None
}

/// Counts per distinct value, keeping at most [`TALLY_CAP`] values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub counts: BTreeMap<String, u64>,
    /// Occurrences of values beyond the cap.
    pub other: u64,
}

impl Tally {
    fn add(&mut self, value: Option<&str>) {
        let Some(v) = value else { return };
        if let Some(n) = self.counts.get_mut(v) {
            *n += 1;
        } else if self.counts.len() < TALLY_CAP {
            self.counts.insert(v.to_owned(), 1);
        } else {
            self.other += 1;
        }
    }

    /// `a (3), b (1)`, most frequent first.
    pub fn summary(&self) -> String {
        let mut v: Vec<_> = self.counts.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut parts: Vec<String> = v.iter().map(|(k, n)| format!("{k} ({n})")).collect();
        if self.other > 0 {
            parts.push(format!("others ({})", self.other));
        }
        parts.join(", ")
    }
}

/// Everything seen for one cause.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Group {
    pub count: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub sources: Tally,
    pub methods: Tally,
    pub paths: Tally,
    pub destinations: Tally,
    /// `NS/POD` whose istio-proxy logged it, when read live.
    pub workloads: Tally,
    pub sample_request_id: Option<String>,
}

/// The caller of a request: SPIFFE id when logged, else the peer address without its port, with the
/// X-Forwarded-For chain when it differs.
pub fn source_of(r: &AccessRecord) -> Option<String> {
    if let Some(p) = &r.source_principal {
        return Some(p.clone());
    }
    let ip = r.downstream_remote_address.as_deref().map(strip_port);
    match (ip, r.x_forwarded_for.as_deref()) {
        (Some(ip), Some(xff)) if ip != xff => Some(format!("{ip} (x-forwarded-for {xff})")),
        (Some(ip), _) => Some(ip.to_owned()),
        (None, xff) => xff.map(str::to_owned),
    }
}

fn strip_port(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => addr,
    }
}

/// The whole input, summarised in bounded memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Aggregate {
    pub lines: u64,
    pub entries: u64,
    pub not_denied: u64,
    pub malformed: u64,
    pub malformed_samples: Vec<String>,
    pub groups: BTreeMap<Cause, Group>,
}

impl Aggregate {
    pub fn add(&mut self, r: &AccessRecord, workload: Option<&str>) {
        self.entries += 1;
        let Some(cause) = classify(r) else {
            self.not_denied += 1;
            return;
        };
        let g = self.groups.entry(cause).or_default();
        g.count += 1;
        if let Some(t) = &r.start_time {
            if g.first_seen.as_ref().is_none_or(|f| t < f) {
                g.first_seen = Some(t.clone());
            }
            if g.last_seen.as_ref().is_none_or(|l| t > l) {
                g.last_seen = Some(t.clone());
            }
        }
        g.sources.add(source_of(r).as_deref());
        g.methods.add(Some(r.method.as_deref().unwrap_or("(tcp)")));
        g.paths.add(r.path.as_deref().map(without_query));
        g.destinations.add(r.authority.as_deref().or(r.downstream_local_address.as_deref()));
        g.workloads.add(workload);
        if g.sample_request_id.is_none() {
            g.sample_request_id = r.request_id.clone();
        }
    }

    pub fn malformed(&mut self, line_no: u64, reason: &str) {
        self.malformed += 1;
        if self.malformed_samples.len() < 3 {
            self.malformed_samples.push(format!("line {line_no}: {reason}"));
        }
    }

    pub fn denials(&self) -> u64 {
        self.groups.iter().filter(|(c, _)| **c != Cause::Application).map(|(_, g)| g.count).sum()
    }
}

fn without_query(p: &str) -> &str {
    p.split('?').next().unwrap_or(p)
}

/// What the cluster says about a policy named in a denial.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Resolution {
    /// Offline, or the policies could not be listed.
    NotChecked {
        reason: String,
    },
    PolicyMissing,
    RuleMissing {
        action: String,
        rules: usize,
    },
    Found {
        action: String,
        rule: Value,
    },
}

/// Look up `policy` among AuthorizationPolicies (as `kubectl get -o json` items).
pub fn resolve(policy: &PolicyRule, policies: &[Value]) -> Resolution {
    let Some(p) = policies.iter().find(|p| {
        p.pointer("/metadata/namespace").and_then(Value::as_str) == Some(policy.namespace.as_str())
            && p.pointer("/metadata/name").and_then(Value::as_str) == Some(policy.name.as_str())
    }) else {
        return Resolution::PolicyMissing;
    };
    let action = super::policies::action_of(p).to_owned();
    let rules = p.pointer("/spec/rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    match rules.get(policy.rule as usize) {
        Some(rule) => Resolution::Found { action, rule: rule.clone() },
        None => Resolution::RuleMissing { action, rules: rules.len() },
    }
}

/// A rule on one line for the table: flow-style, long rules cut.
fn compact(rule: &Value) -> String {
    let s = rule.to_string();
    if s.chars().count() > 160 { format!("{}…", s.chars().take(160).collect::<String>()) } else { s }
}

/// A rule as compact YAML, one line per YAML line, for evidence.
pub fn rule_yaml(rule: &Value) -> Vec<String> {
    serde_yaml_ng::to_string(rule)
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_else(|e| vec![format!("(cannot render the rule: {e})")])
}

/// The ALLOW policies an operator should read for a `matched_policy[none]` group, as `NS/NAME` plus their
/// rule count, with where they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllowPolicy {
    pub policy: String,
    pub rules: usize,
    pub applies: String,
}

/// Inputs for [`findings`] beyond the aggregate.
#[derive(Debug, Clone)]
pub struct ExplainContext {
    pub context: String,
    /// What was read, for targets and evidence: `FILE`, `stdin`, `pods in authz-ns`.
    pub input: String,
    /// AuthorizationPolicies of the cluster; `Err(reason)` when not available (offline, forbidden).
    pub policies: Result<Vec<Value>, String>,
    /// For `matched_policy[none]`: the ALLOW policies applying to the denying workloads.
    pub allow_policies: Vec<AllowPolicy>,
    /// A premise problem that keeps the rest useful: input truncated, a pod's log unreadable.
    pub notes: Vec<String>,
    pub commands: Vec<String>,
}

impl Default for ExplainContext {
    fn default() -> Self {
        ExplainContext {
            context: String::new(),
            input: String::new(),
            policies: Err("offline: no cluster was asked".into()),
            allow_policies: Vec::new(),
            notes: Vec::new(),
            commands: Vec::new(),
        }
    }
}

/// One finding per cause, most frequent policy first, plus a summary of what was read.
pub fn findings(agg: &Aggregate, cx: &ExplainContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut summary = Finding::new(CheckId::AuthzDenials, &cx.context, &cx.input);
    summary.commands = cx.commands.clone();
    let read = format!(
        "read {} access-log entries ({} lines): {} denied by policy, {} application 403, {} not denied, {} unreadable",
        agg.entries,
        agg.lines,
        agg.denials(),
        agg.groups.get(&Cause::Application).map_or(0, |g| g.count),
        agg.not_denied,
        agg.malformed
    );
    summary = if agg.entries == 0 {
        summary
            .status(
                Status::Error,
                format!("no access-log entries in {}", cx.input),
            )
            .evidence(read.clone())
            .remediation(
                "enable access logging: meshConfig.accessLogFile=/dev/stdout (or a Telemetry resource with the envoy provider), then reproduce the request",
            )
            .remediation(
                "accepted inputs: istio-proxy logs in Istio's default TEXT or JSON format, Cloud Logging JSON exports (array or one entry a line)",
            )
    } else if agg.denials() == 0 {
        summary.status(Status::Pass, format!("no authorization policy denials in {}", cx.input))
    } else {
        summary.status(
            Status::Warn,
            format!("{} requests denied by authorization policies in {}", agg.denials(), cx.input),
        )
    };
    if agg.entries > 0 {
        summary = summary.evidence(read);
    }
    for s in &agg.malformed_samples {
        summary = summary.evidence(format!("unreadable {s}"));
    }
    for n in &cx.notes {
        summary = summary.evidence(n.clone());
    }
    summary.data = json!({
        "lines": agg.lines,
        "entries": agg.entries,
        "denied_by_policy": agg.denials(),
        "not_denied": agg.not_denied,
        "unreadable": agg.malformed,
        "notes": cx.notes,
    });
    out.push(summary);

    let mut groups: Vec<_> = agg.groups.iter().collect();
    groups.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(b.1.count.cmp(&a.1.count)));
    for (cause, g) in groups {
        out.push(group_finding(cause, g, cx));
    }
    out
}

fn rank(c: &Cause) -> u8 {
    match c {
        Cause::PolicyDeny { .. } => 0,
        Cause::NoAllowMatch => 1,
        Cause::Custom { .. } => 2,
        Cause::OtherRbac { .. } => 3,
        Cause::Application => 4,
    }
}

fn group_finding(cause: &Cause, g: &Group, cx: &ExplainContext) -> Finding {
    let seen = match (&g.first_seen, &g.last_seen) {
        (Some(f), Some(l)) if f != l => format!("first {f}, last {l}"),
        (Some(f), _) => format!("at {f}"),
        _ => "no timestamps".into(),
    };
    let mut resolution = None;
    let mut f = match cause {
        Cause::PolicyDeny { policy } => {
            let r = match &cx.policies {
                Ok(list) => resolve(policy, list),
                Err(reason) => Resolution::NotChecked { reason: reason.clone() },
            };
            let mut f = Finding::new(CheckId::AuthzDenials, &cx.context, policy.to_string())
                .status(Status::Warn, format!("{} requests denied by {policy}", g.count));
            f = match &r {
                Resolution::Found { action, rule } => {
                    let mut f = f.evidence(format!("{policy} ({action}):"));
                    for l in rule_yaml(rule) {
                        f = f.evidence(format!("  {l}"));
                    }
                    if action != "DENY" {
                        f = f.evidence(format!(
                            "the policy's action is now {action}, not DENY: it changed after these requests were logged"
                        ));
                    }
                    f
                }
                Resolution::RuleMissing { action, rules } => f.evidence(format!(
                    "{}/{} ({action}) exists but has {rules} rules: rule[{}] no longer exists; the policy changed after these requests were logged",
                    policy.namespace, policy.name, policy.rule
                )),
                Resolution::PolicyMissing => f.evidence(format!(
                    "AuthorizationPolicy {}/{} no longer exists in this cluster (deleted, or the log comes from another cluster)",
                    policy.namespace, policy.name
                )),
                Resolution::NotChecked { reason } => {
                    f.evidence(format!("rule not looked up: {reason}"))
                }
            };
            f.summary.push_str(&match &r {
                Resolution::Found { rule, .. } => format!(": {}", compact(rule)),
                Resolution::RuleMissing { .. } => ": that rule no longer exists".to_owned(),
                Resolution::PolicyMissing => ": that policy no longer exists".to_owned(),
                Resolution::NotChecked { .. } => String::new(),
            });
            resolution = Some(r);
            f.remediation(format!(
                "if these requests should pass, change rule[{}] of the policy: kubectl edit authorizationpolicy {} -n {}",
                policy.rule, policy.name, policy.namespace
            ))
        }
        Cause::NoAllowMatch => {
            let mut f = Finding::new(CheckId::AuthzDenials, &cx.context, "ALLOW policies, none matched").status(
                Status::Warn,
                format!("{} requests denied because ALLOW policies apply and none of their rules matched", g.count),
            );
            if cx.allow_policies.is_empty() {
                f = f.evidence(match &cx.policies {
                    Ok(_) => "no ALLOW policy found for these workloads now: they changed after these requests were logged, or the log comes from another cluster".to_owned(),
                    Err(reason) => format!("ALLOW policies not looked up: {reason}"),
                });
            }
            for a in &cx.allow_policies {
                let note = if a.rules == 0 {
                    " — no rules: it allows nothing, so it denies every request (the runbook's deny-all)"
                } else {
                    ""
                };
                f = f.evidence(format!("ALLOW {} ({} rules, {}){note}", a.policy, a.rules, a.applies));
            }
            f.remediation(
                "add a rule to one of these ALLOW policies that matches the denied requests (source, method, path below); requests to a workload with any ALLOW policy must match one of its rules",
            )
        }
        Cause::Custom { details } => Finding::new(CheckId::AuthzDenials, &cx.context, "CUSTOM")
            .status(Status::Warn, format!("{} requests denied by a CUSTOM (ext_authz) provider ({details})", g.count))
            .remediation("read the external authorizer's own logs: the mesh only forwards its decision"),
        Cause::OtherRbac { policy } => Finding::new(CheckId::AuthzDenials, &cx.context, policy)
            .status(
                Status::Warn,
                format!(
                    "{} requests denied by RBAC policy {policy:?}, not named like an istiod AuthorizationPolicy",
                    g.count
                ),
            )
            .remediation("look for an EnvoyFilter that adds its own RBAC filter: kubectl get envoyfilters -A"),
        Cause::Application => Finding::new(CheckId::AuthzDenials, &cx.context, "application 403")
            .status(
                Status::Pass,
                format!(
                    "{} requests answered 403 by the application itself (via_upstream), not by a mesh policy",
                    g.count
                ),
            )
            .remediation("these are the application's own decisions: read its logs, not the AuthorizationPolicies"),
    };
    // The first line is what the table shows: who, what and where in one line.
    let mut headline = format!("{} requests, {seen}", g.count);
    for (what, t) in [("from", &g.sources), ("", &g.methods), ("paths", &g.paths)] {
        if !t.counts.is_empty() {
            headline.push_str(&format!(
                "; {}{}",
                if what.is_empty() { String::new() } else { format!("{what} ") },
                t.summary()
            ));
        }
    }
    let mut lines = vec![headline];
    for (what, t) in [
        ("sources", &g.sources),
        ("methods", &g.methods),
        ("paths", &g.paths),
        ("destinations", &g.destinations),
        ("workloads", &g.workloads),
    ] {
        if !t.counts.is_empty() {
            lines.push(format!("{what}: {}", t.summary()));
        }
    }
    // The count line first: it is what the table shows.
    let rule_lines = std::mem::take(&mut f.evidence);
    f.evidence = lines;
    f.evidence.extend(rule_lines);
    f.commands = cx.commands.clone();
    let (policy_ref, policy) = match cause {
        Cause::PolicyDeny { policy } => (Some(policy.to_string()), Some(policy)),
        _ => (None, None),
    };
    f.data = json!({
        "cause": cause,
        "policy_ref": policy_ref,
        "policy": policy,
        "count": g.count,
        "first_seen": g.first_seen,
        "last_seen": g.last_seen,
        "sources": g.sources,
        "methods": g.methods,
        "paths": g.paths,
        "destinations": g.destinations,
        "workloads": g.workloads,
        "sample_request_id": g.sample_request_id,
        "resolution": resolution,
        "allow_policies": if *cause == Cause::NoAllowMatch { json!(cx.allow_policies) } else { Value::Null },
    });
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::access_log::Line;
    use crate::parse::cloud_logging::Reader;

    fn fixture(name: &str) -> String {
        crate::test_support::fixture("authz", name)
    }

    fn aggregate(name: &str) -> Aggregate {
        let mut agg = Aggregate::default();
        let mut r = Reader::new();
        for (i, line) in fixture(name).lines().enumerate() {
            agg.lines += 1;
            for l in r.push_line(line) {
                match l {
                    Line::Record(rec) => agg.add(&rec, None),
                    Line::Malformed(m) => agg.malformed(i as u64 + 1, &m),
                    Line::NotAccessLog => {}
                }
            }
        }
        agg
    }

    fn rule(ns: &str, name: &str, rule: u32) -> Cause {
        Cause::PolicyDeny { policy: PolicyRule { namespace: ns.into(), name: name.into(), rule } }
    }

    fn counts(agg: &Aggregate) -> Vec<(String, u64)> {
        agg.groups
            .iter()
            .map(|(c, g)| {
                let k = match c {
                    Cause::PolicyDeny { policy } => policy.to_string(),
                    other => format!("{other:?}"),
                };
                (k, g.count)
            })
            .collect()
    }

    #[test]
    fn policy_names_in_every_spelling() {
        assert_eq!(
            parse_policy_name("ns[authz-ns]-policy[deny-method-delete]-rule[1]"),
            Some(PolicyRule { namespace: "authz-ns".into(), name: "deny-method-delete".into(), rule: 1 })
        );
        assert_eq!(
            parse_policy_name("istio-ext-authz-ns[a]-policy[b]-rule[0]").map(|p| p.to_string()),
            Some("a/b rule[0]".into())
        );
        assert_eq!(parse_policy_name("ns[a]-policy[b]-rule[x]"), None);
        assert_eq!(parse_policy_name("ns[]-policy[b]-rule[0]"), None);
        assert_eq!(parse_policy_name("none"), None);
        assert_eq!(
            parse_cloud_policy("foo.deny-method-get", Some("0")).map(|p| p.to_string()),
            Some("foo/deny-method-get rule[0]".into())
        );
        assert_eq!(parse_cloud_policy("foo.a.b", Some("2")).unwrap().name, "a.b");
        assert_eq!(parse_cloud_policy("nodot", Some("0")), None);
        assert_eq!(parse_cloud_policy("a.b", Some("-1")), None);
    }

    #[test]
    fn text_deny_log_aggregates_by_policy_and_rule() {
        let agg = aggregate("access-text-deny.log");
        assert_eq!(agg.entries, 12);
        assert_eq!(agg.not_denied, 4, "GET /get, /headers, POST, 302");
        assert_eq!(agg.malformed, 0);
        assert_eq!(agg.denials(), 7);
        assert_eq!(
            counts(&agg),
            vec![
                ("authz-ns/deny-method-delete rule[0]".into(), 3),
                ("authz-ns/deny-method-delete rule[1]".into(), 2),
                ("authz-ns/deny-tcp-9000 rule[0]".into(), 1),
                ("istio-system/deny-blocked-ip rule[0]".into(), 1),
                ("Application".into(), 1),
            ]
        );
        let g = &agg.groups[&rule("authz-ns", "deny-method-delete", 0)];
        assert_eq!(g.methods.counts.get("DELETE"), Some(&3));
        assert_eq!(g.paths.counts.len(), 2);
        assert_eq!(g.paths.counts.get("/delete"), Some(&2));
        assert_eq!(g.sources.counts.get("127.0.60.21"), Some(&1));
        assert_eq!(g.sources.counts.get("127.0.60.22"), Some(&2));
        assert!(g.first_seen < g.last_seen);
        let r1 = &agg.groups[&rule("authz-ns", "deny-method-delete", 1)];
        assert_eq!(r1.sources.counts.get("203.0.113.7"), Some(&1));
        let tcp = &agg.groups[&rule("authz-ns", "deny-tcp-9000", 0)];
        assert_eq!(tcp.methods.counts.get("(tcp)"), Some(&1));
        let app = &agg.groups[&Cause::Application];
        assert_eq!(app.paths.counts.get("/status/403"), Some(&1));
    }

    #[test]
    fn json_log_and_cloud_export_agree_with_the_text_log() {
        let text = aggregate("access-text-deny.log");
        let json = aggregate("access-json-deny.log");
        assert_eq!(counts(&text), counts(&json));
        let cloud = aggregate("cloud-logging-export.json");
        assert_eq!(
            counts(&cloud),
            vec![
                ("authz-ns/deny-method-delete rule[0]".into(), 3),
                ("authz-ns/deny-method-delete rule[1]".into(), 2),
                ("istio-system/deny-blocked-ip rule[0]".into(), 1),
                ("NoAllowMatch".into(), 2),
                ("Application".into(), 1),
            ]
        );
        assert_eq!(counts(&cloud), counts(&aggregate("cloud-logging-export.jsonl")));
    }

    #[test]
    fn allow_only_denials_are_none_matched_not_policy_denials() {
        for name in ["access-text-allow-only.log", "access-json-allow-only.log"] {
            let agg = aggregate(name);
            assert_eq!(counts(&agg), vec![("NoAllowMatch".into(), 2)], "{name}");
            assert_eq!(agg.not_denied, 2);
            let g = &agg.groups[&Cause::NoAllowMatch];
            assert_eq!(g.methods.summary(), "GET (1), POST (1)");
        }
        let all = aggregate("access-text-deny-all.log");
        assert_eq!(counts(&all), vec![("NoAllowMatch".into(), 2)]);
    }

    fn policy(ns: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
               "metadata": {"namespace": ns, "name": name}, "spec": spec})
    }

    #[test]
    fn denials_resolve_to_the_rule_or_say_it_is_gone() {
        let agg = aggregate("access-text-deny.log");
        let policies = vec![policy(
            "authz-ns",
            "deny-method-delete",
            json!({"action": "DENY", "rules": [
                {"to": [{"operation": {"methods": ["DELETE"]}}]},
                {"to": [{"operation": {"paths": ["/status/418"]}}]}]}),
        )];
        let cx = ExplainContext {
            context: "mesh-east".into(),
            input: "access-text-deny.log".into(),
            policies: Ok(policies),
            ..Default::default()
        };
        let fs = findings(&agg, &cx);
        assert_eq!(fs[0].status, Status::Warn);
        assert!(fs[0].summary.starts_with("7 requests denied"));
        let r0 = fs.iter().find(|f| f.target == "authz-ns/deny-method-delete rule[0]").unwrap();
        assert_eq!(
            r0.evidence[0],
            format!(
                "3 requests, first {}, last {}; from 127.0.60.22 (2), 127.0.60.21 (1); DELETE (3); paths /delete (2), /anything/orders/7 (1)",
                r0.data["first_seen"].as_str().unwrap(),
                r0.data["last_seen"].as_str().unwrap()
            )
        );
        assert_eq!(
            r0.summary,
            r#"3 requests denied by authz-ns/deny-method-delete rule[0]: {"to":[{"operation":{"methods":["DELETE"]}}]}"#
        );
        assert!(r0.evidence.iter().any(|e| e.contains("- DELETE")), "{:?}", r0.evidence);
        assert!(!r0.evidence.iter().any(|e| e.contains("/status/418")));
        assert_eq!(r0.data["resolution"]["state"], "found");
        assert_eq!(r0.data["policy_ref"], "authz-ns/deny-method-delete rule[0]");
        let gone = fs.iter().find(|f| f.target == "istio-system/deny-blocked-ip rule[0]").unwrap();
        assert_eq!(gone.data["resolution"]["state"], "policy-missing");
        assert!(gone.evidence.iter().any(|e| e.contains("no longer exists")));
        let app = fs.iter().find(|f| f.target == "application 403").unwrap();
        assert_eq!(app.status, Status::Pass);
        // Ordered: policy denials before the application's own 403s.
        assert_eq!(fs.last().unwrap().target, "application 403");

        let shrunk = vec![policy(
            "authz-ns",
            "deny-method-delete",
            json!({"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["DELETE"]}}]}]}),
        )];
        let cx = ExplainContext { policies: Ok(shrunk), ..cx };
        let fs = findings(&agg, &cx);
        let r1 = fs.iter().find(|f| f.target == "authz-ns/deny-method-delete rule[1]").unwrap();
        assert_eq!(r1.data["resolution"]["state"], "rule-missing");
        assert!(r1.evidence.iter().any(|e| e.contains("has 1 rules: rule[1] no longer exists")));
    }

    #[test]
    fn nothing_read_is_an_error_and_clean_log_passes() {
        let agg = Aggregate { lines: 3, ..Default::default() };
        let cx = ExplainContext { input: "x.log".into(), policies: Err("offline".into()), ..Default::default() };
        assert_eq!(findings(&agg, &cx)[0].status, Status::Error);
        let mut clean = Aggregate::default();
        clean.add(
            &AccessRecord {
                response_code: Some(200),
                response_code_details: Some("via_upstream".into()),
                ..Default::default()
            },
            None,
        );
        let fs = findings(&clean, &cx);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].status, Status::Pass);
    }

    #[test]
    fn tallies_stay_bounded() {
        let mut agg = Aggregate::default();
        for i in 0..1000 {
            agg.add(
                &AccessRecord {
                    response_code: Some(403),
                    response_code_details: Some("rbac_access_denied_matched_policy[none]".into()),
                    path: Some(format!("/p/{i}?q=1")),
                    downstream_remote_address: Some(format!("10.0.{}.{}:1234", i / 256, i % 256)),
                    ..Default::default()
                },
                None,
            );
        }
        let g = &agg.groups[&Cause::NoAllowMatch];
        assert_eq!(g.count, 1000);
        assert_eq!(g.paths.counts.len(), TALLY_CAP);
        assert_eq!(g.paths.other, 1000 - TALLY_CAP as u64);
        assert!(g.paths.counts.keys().all(|p| !p.contains('?')));
    }

    #[test]
    fn source_spellings() {
        let r = AccessRecord { downstream_remote_address: Some("[fd00::1]:443".into()), ..Default::default() };
        assert_eq!(source_of(&r).as_deref(), Some("fd00::1"));
        let r = AccessRecord {
            downstream_remote_address: Some("10.0.0.1:5".into()),
            x_forwarded_for: Some("203.0.113.7".into()),
            ..Default::default()
        };
        assert_eq!(source_of(&r).as_deref(), Some("10.0.0.1 (x-forwarded-for 203.0.113.7)"));
        let r =
            AccessRecord { source_principal: Some("spiffe://cluster.local/ns/a/sa/b".into()), ..Default::default() };
        assert_eq!(source_of(&r).as_deref(), Some("spiffe://cluster.local/ns/a/sa/b"));
    }
}
