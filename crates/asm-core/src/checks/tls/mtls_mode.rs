//! The effective mTLS mode of a workload and port, from PeerAuthentication precedence as istiod applies it:
//! port-level (workload policies only) over workload (selector) over namespace over mesh (root namespace),
//! `UNSET` inheriting from the level above, the oldest policy winning a tie, and PERMISSIVE when nothing is set.

use std::collections::BTreeMap;

use serde::Serialize;

/// The `mtls.mode` values of a PeerAuthentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    Unset,
    Disable,
    Permissive,
    Strict,
}

impl MtlsMode {
    pub fn parse(s: &str) -> Option<MtlsMode> {
        match s {
            "UNSET" | "" => Some(MtlsMode::Unset),
            "DISABLE" => Some(MtlsMode::Disable),
            "PERMISSIVE" => Some(MtlsMode::Permissive),
            "STRICT" => Some(MtlsMode::Strict),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Unset => "UNSET",
            MtlsMode::Disable => "DISABLE",
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Strict => "STRICT",
        }
    }
}

/// The parts of a PeerAuthentication that decide a mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerAuthentication {
    pub namespace: String,
    pub name: String,
    /// RFC 3339 creation time; RFC 3339 strings in UTC sort chronologically.
    pub created: String,
    /// `spec.selector.matchLabels`; `None` for namespace- or mesh-wide policies.
    pub selector: Option<BTreeMap<String, String>>,
    pub mode: MtlsMode,
    pub port_level: BTreeMap<u32, MtlsMode>,
}

impl PeerAuthentication {
    /// Read one from its JSON form (as the API server or `kubectl get -o json` returns it).
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let meta = &v["metadata"];
        let name = meta["name"].as_str().ok_or("PeerAuthentication without metadata.name")?.to_owned();
        let namespace = meta["namespace"].as_str().unwrap_or_default().to_owned();
        let spec = &v["spec"];
        let mode_of = |m: &serde_json::Value| -> Result<MtlsMode, String> {
            let s = m["mode"].as_str().unwrap_or("UNSET");
            MtlsMode::parse(s)
                .ok_or_else(|| format!("PeerAuthentication {namespace}/{name} has unknown mtls mode {s:?}"))
        };
        let selector = spec["selector"]["matchLabels"]
            .as_object()
            .map(|labels| labels.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect());
        let mut port_level = BTreeMap::new();
        if let Some(ports) = spec["portLevelMtls"].as_object() {
            for (port, m) in ports {
                let port: u32 = port
                    .parse()
                    .map_err(|_| format!("PeerAuthentication {namespace}/{name}: port {port:?} is not a number"))?;
                port_level.insert(port, mode_of(m)?);
            }
        }
        Ok(PeerAuthentication {
            mode: mode_of(&spec["mtls"])?,
            namespace: namespace.clone(),
            name,
            created: meta["creationTimestamp"].as_str().unwrap_or_default().to_owned(),
            selector,
            port_level,
        })
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        match &self.selector {
            // An empty matchLabels selects nothing in istiod's matcher... but an empty map is how some tools write
            // "no selector"; istiod treats a selector with no labels as namespace-wide, so do we.
            Some(sel) if !sel.is_empty() => sel.iter().all(|(k, v)| labels.get(k) == Some(v)),
            _ => false,
        }
    }

    fn is_wide(&self) -> bool {
        self.selector.as_ref().is_none_or(|s| s.is_empty())
    }
}

/// Which level a deciding policy sat at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Default,
    Mesh,
    Namespace,
    Workload,
    Port,
}

/// One policy that took part in the decision, in precedence order (most general first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub level: Level,
    pub resource: String,
    pub mode: MtlsMode,
}

/// The effective mode and how it came about.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveMode {
    pub mode: MtlsMode,
    pub port: Option<u32>,
    pub decided_by: Vec<Decision>,
    /// Policies that were shadowed by an older one at the same level (a configuration smell).
    pub ignored: Vec<String>,
}

impl EffectiveMode {
    /// The chain of policies in precedence order, for one evidence line:
    /// `mesh istio-system/default PERMISSIVE → namespace sample/default STRICT`.
    pub fn explain(&self) -> String {
        let steps: Vec<String> = self
            .decided_by
            .iter()
            .filter(|d| d.level != Level::Default)
            .map(|d| format!("{} {} {}", format!("{:?}", d.level).to_lowercase(), d.resource, d.mode.as_str()))
            .collect();
        if steps.is_empty() {
            "no PeerAuthentication applies: PERMISSIVE by default".into()
        } else {
            steps.join(" → ")
        }
    }
}

/// Compute the effective mode for a workload (`namespace`, `labels`) and optionally one target port.
pub fn effective_mode(
    root_namespace: &str,
    policies: &[PeerAuthentication],
    namespace: &str,
    labels: &BTreeMap<String, String>,
    port: Option<u32>,
) -> EffectiveMode {
    let mut ignored = Vec::new();
    let mut oldest = |mut candidates: Vec<&PeerAuthentication>| -> Option<PeerAuthentication> {
        candidates.sort_by(|a, b| (a.created.as_str(), a.name.as_str()).cmp(&(b.created.as_str(), b.name.as_str())));
        let mut it = candidates.into_iter();
        let winner = it.next().cloned();
        ignored.extend(it.map(PeerAuthentication::key));
        winner
    };

    let mesh = oldest(policies.iter().filter(|p| p.namespace == root_namespace && p.is_wide()).collect());
    let ns = if namespace == root_namespace {
        None
    } else {
        oldest(policies.iter().filter(|p| p.namespace == namespace && p.is_wide()).collect())
    };
    // A selector policy in the root namespace applies only to workloads in the root namespace.
    let workload = oldest(policies.iter().filter(|p| p.namespace == namespace && p.selects(labels)).collect());

    let mut mode = MtlsMode::Permissive;
    let mut decided_by = vec![Decision { level: Level::Default, resource: "(no policy: PERMISSIVE)".into(), mode }];
    let mut apply = |level: Level, pa: &PeerAuthentication, m: MtlsMode, decided_by: &mut Vec<Decision>| {
        decided_by.push(Decision { level, resource: pa.key(), mode: m });
        if m != MtlsMode::Unset {
            mode = m;
        }
    };
    if let Some(p) = &mesh {
        apply(Level::Mesh, p, p.mode, &mut decided_by);
    }
    if let Some(p) = &ns {
        apply(Level::Namespace, p, p.mode, &mut decided_by);
    }
    if let Some(p) = &workload {
        apply(Level::Workload, p, p.mode, &mut decided_by);
        if let Some(m) = port.and_then(|port| p.port_level.get(&port)) {
            apply(Level::Port, p, *m, &mut decided_by);
        }
    }
    EffectiveMode { mode, port, decided_by, ignored }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pa(
        ns: &str,
        name: &str,
        created: &str,
        sel: Option<&[(&str, &str)]>,
        mode: MtlsMode,
        ports: &[(u32, MtlsMode)],
    ) -> PeerAuthentication {
        PeerAuthentication {
            namespace: ns.into(),
            name: name.into(),
            created: created.into(),
            selector: sel.map(|s| s.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            mode,
            port_level: ports.iter().copied().collect(),
        }
    }

    fn labels(l: &[(&str, &str)]) -> BTreeMap<String, String> {
        l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn nothing_means_permissive() {
        let e = effective_mode("istio-system", &[], "sample", &labels(&[]), None);
        assert_eq!(e.mode, MtlsMode::Permissive);
        assert_eq!(e.decided_by[0].level, Level::Default);
    }

    #[test]
    fn namespace_overrides_mesh_and_unset_inherits() {
        let pols = [
            pa("istio-system", "default", "2024-01-01T00:00:00Z", None, MtlsMode::Strict, &[]),
            pa("sample", "default", "2024-01-02T00:00:00Z", None, MtlsMode::Unset, &[]),
        ];
        assert_eq!(effective_mode("istio-system", &pols, "sample", &labels(&[]), None).mode, MtlsMode::Strict);
        let pols = [pols[0].clone(), pa("sample", "default", "2024-01-02T00:00:00Z", None, MtlsMode::Permissive, &[])];
        assert_eq!(effective_mode("istio-system", &pols, "sample", &labels(&[]), None).mode, MtlsMode::Permissive);
    }

    #[test]
    fn port_level_applies_only_through_a_workload_selector() {
        let pols = [
            pa("sample", "ns", "2024-01-01T00:00:00Z", None, MtlsMode::Strict, &[(8080, MtlsMode::Disable)]),
            pa(
                "sample",
                "httpbin",
                "2024-01-01T00:00:00Z",
                Some(&[("app", "httpbin")]),
                MtlsMode::Unset,
                &[(9090, MtlsMode::Disable)],
            ),
        ];
        let l = labels(&[("app", "httpbin")]);
        assert_eq!(effective_mode("istio-system", &pols, "sample", &l, Some(8080)).mode, MtlsMode::Strict);
        let e = effective_mode("istio-system", &pols, "sample", &l, Some(9090));
        assert_eq!(e.mode, MtlsMode::Disable);
        assert_eq!(e.decided_by.last().unwrap().level, Level::Port);
        assert_eq!(
            effective_mode("istio-system", &pols, "sample", &labels(&[("app", "other")]), Some(9090)).mode,
            MtlsMode::Strict
        );
    }

    #[test]
    fn oldest_wins_and_the_other_is_reported() {
        let pols = [
            pa("sample", "newer", "2024-02-01T00:00:00Z", None, MtlsMode::Permissive, &[]),
            pa("sample", "older", "2024-01-01T00:00:00Z", None, MtlsMode::Strict, &[]),
        ];
        let e = effective_mode("istio-system", &pols, "sample", &labels(&[]), None);
        assert_eq!(e.mode, MtlsMode::Strict);
        assert_eq!(e.ignored, vec!["sample/newer".to_string()]);
    }

    #[test]
    fn root_namespace_selector_does_not_leak_into_other_namespaces() {
        let pols =
            [pa("istio-system", "sel", "2024-01-01T00:00:00Z", Some(&[("app", "httpbin")]), MtlsMode::Strict, &[])];
        assert_eq!(
            effective_mode("istio-system", &pols, "sample", &labels(&[("app", "httpbin")]), None).mode,
            MtlsMode::Permissive
        );
    }

    #[test]
    fn from_json_reads_the_api_shape_and_rejects_unknown_modes() {
        let v = serde_json::json!({"metadata": {"name": "default", "namespace": "sample", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"selector": {"matchLabels": {"app": "httpbin"}}, "mtls": {"mode": "STRICT"}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}}});
        let p = PeerAuthentication::from_json(&v).unwrap();
        assert_eq!(p.mode, MtlsMode::Strict);
        assert_eq!(p.port_level.get(&8080), Some(&MtlsMode::Disable));
        let bad = serde_json::json!({"metadata": {"name": "x"}, "spec": {"mtls": {"mode": "STRICTEST"}}});
        assert!(PeerAuthentication::from_json(&bad).unwrap_err().contains("STRICTEST"));
    }
}
