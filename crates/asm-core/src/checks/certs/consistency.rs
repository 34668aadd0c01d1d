//! certs.root-consistency: in a multi-cluster mesh every cluster must trust the same root and issue
//! certificates in the same trust domain, or cross-cluster mTLS fails with "unknown CA" while each cluster
//! looks healthy on its own. Each cluster's `istio-ca-root-cert` ConfigMaps (one per namespace) and trust
//! domain are compared with the majority.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::model::{CheckId, Finding, Status};

/// One namespace's `istio-ca-root-cert`.
#[derive(Debug, Clone, Serialize)]
pub struct RootConfigMap {
    pub namespace: String,
    /// SHA-256 fingerprints of the roots in `root-cert.pem`, sorted; `Err` when it does not parse.
    pub fingerprints: Result<Vec<String>, String>,
    pub subjects: Vec<String>,
}

/// What one cluster trusts.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterTrust {
    pub context: String,
    pub trust_domain: String,
    pub trust_domain_source: String,
    pub configmaps: Vec<RootConfigMap>,
    pub commands: Vec<String>,
}

fn key(fps: &[String]) -> String {
    fps.join(",")
}

fn short(fps: &[String]) -> String {
    fps.iter()
        .map(|f| format!("{}…", f.get(..16).unwrap_or(f)))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The most common value; ties go to the one seen first, so the result does not depend on hashing.
fn majority<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, v) in values.enumerate() {
        let e = counts.entry(v).or_insert((0, i));
        e.0 += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))
        .map(|(k, _)| k.to_owned())
}

pub fn check_root_consistency(clusters: &[ClusterTrust]) -> Vec<Finding> {
    let all_keys: Vec<String> = clusters
        .iter()
        .flat_map(|c| c.configmaps.iter())
        .filter_map(|cm| cm.fingerprints.as_ref().ok().map(|f| key(f)))
        .collect();
    let root_majority = majority(all_keys.iter().map(String::as_str));
    let td_majority = majority(clusters.iter().map(|c| c.trust_domain.as_str()));
    let majority_fps: Vec<String> = root_majority
        .as_deref()
        .map(|k| {
            k.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();

    clusters
        .iter()
        .map(|c| {
            let mut f = Finding::new(CheckId::CertsRootConsistency, &c.context, format!("cluster {}", c.context));
            for cmd in &c.commands {
                f = f.command(cmd.clone());
            }
            let mut worst = Status::Pass;
            let mut summary = String::new();
            let bump = |f: &mut Status, s: &mut String, st: Status, text: String| {
                if st > *f {
                    *f = st;
                    *s = text;
                }
            };
            f = f.evidence(format!("trust domain {} ({})", c.trust_domain, c.trust_domain_source));
            if Some(&c.trust_domain) != td_majority.as_ref() {
                bump(
                    &mut worst,
                    &mut summary,
                    Status::Fail,
                    format!(
                        "trust domain {} differs from the other clusters' {}",
                        c.trust_domain,
                        td_majority.clone().unwrap_or_default()
                    ),
                );
            }
            if c.configmaps.is_empty() {
                bump(&mut worst, &mut summary, Status::Warn, "no istio-ca-root-cert ConfigMap found: istiod has not published its root (is the control plane installed?)".into());
            }
            let mut by_root: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            let mut rows = Vec::new();
            for cm in &c.configmaps {
                match &cm.fingerprints {
                    Err(e) => {
                        f = f.evidence(format!("namespace {}: root-cert.pem does not parse: {e}", cm.namespace));
                        bump(&mut worst, &mut summary, Status::Fail, format!("istio-ca-root-cert in {} does not parse", cm.namespace));
                        rows.push(json!({"namespace": cm.namespace, "error": e}));
                    }
                    Ok(fps) => {
                        let k = key(fps);
                        let matches = Some(&k) == root_majority.as_ref();
                        by_root.entry(k).or_default().push(&cm.namespace);
                        rows.push(json!({
                            "namespace": cm.namespace, "fingerprints": fps, "subjects": cm.subjects,
                            "matches_majority": matches,
                        }));
                        if !matches {
                            let overlap = fps.iter().any(|p| majority_fps.contains(p));
                            if overlap {
                                bump(&mut worst, &mut summary, Status::Warn, format!(
                                    "namespace {} trusts {} — shares a root with the majority but not all of them (a root rotation in progress?)",
                                    cm.namespace, short(fps)));
                            } else {
                                bump(&mut worst, &mut summary, Status::Fail, format!(
                                    "namespace {} trusts root {}, not the majority's {}",
                                    cm.namespace, short(fps), short(&majority_fps)));
                            }
                        }
                    }
                }
            }
            for (k, namespaces) in &by_root {
                let fps: Vec<String> = k.split(',').map(str::to_owned).collect();
                let mark = if Some(k) == root_majority.as_ref() { " (majority)" } else { " (differs)" };
                let shown: Vec<&str> = namespaces.iter().take(5).copied().collect();
                let more = namespaces.len().saturating_sub(shown.len());
                f = f.evidence(format!(
                    "{} namespaces trust sha256 {}{mark}: {}{}",
                    namespaces.len(),
                    short(&fps),
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ));
            }
            f = f.data(json!({
                "trust_domain": c.trust_domain,
                "trust_domain_source": c.trust_domain_source,
                "majority": {"fingerprints": majority_fps, "trust_domain": td_majority},
                "namespaces": rows,
            }));
            match worst {
                Status::Pass => f.status(Status::Pass, format!(
                    "trusts the majority root ({}) in {} namespaces; trust domain {}",
                    short(&majority_fps), c.configmaps.len(), c.trust_domain)),
                Status::Fail | Status::Warn => f
                    .status(worst, summary)
                    .remediation("give every cluster's istiod certificates from one root (plug-in CA: the same root-cert.pem in each cluster's cacerts secret, then restart istiod and the workloads)")
                    .remediation("set the same meshConfig.trustDomain everywhere, or list the others in meshConfig.trustDomainAliases")
                    .remediation("a stale namespace ConfigMap is rewritten by istiod: check istiod runs and can update ConfigMaps in that namespace"),
                other => f.status(other, summary),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::x509::{fingerprint, parse_pem_bundle, summarize};

    fn root(name: &str) -> (Vec<String>, Vec<String>) {
        let path = format!(
            "{}/../../tests/fixtures/certs/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let certs = parse_pem_bundle(&std::fs::read(path).unwrap()).unwrap();
        let mut fps: Vec<String> = certs.iter().map(fingerprint).collect();
        fps.sort();
        (fps, certs.iter().map(|c| summarize(c).subject).collect())
    }

    fn cluster(ctx: &str, td: &str, roots: &[(&str, &str)]) -> ClusterTrust {
        ClusterTrust {
            context: ctx.into(),
            trust_domain: td.into(),
            trust_domain_source: "ConfigMap istio-system/istio".into(),
            configmaps: roots
                .iter()
                .map(|(ns, file)| {
                    let (fps, subjects) = root(file);
                    RootConfigMap {
                        namespace: (*ns).into(),
                        fingerprints: Ok(fps),
                        subjects,
                    }
                })
                .collect(),
            commands: vec![],
        }
    }

    #[test]
    fn the_odd_cluster_out_fails() {
        let v = check_root_consistency(&[
            cluster(
                "west",
                "cluster.local",
                &[("sample", "root-istiod.pem"), ("legacy", "root-istiod.pem")],
            ),
            cluster("central", "cluster.local", &[("sample", "root-istiod.pem")]),
            cluster("east", "east.local", &[("sample", "root-east.pem")]),
        ]);
        assert_eq!(
            v.iter().map(|f| f.status).collect::<Vec<_>>(),
            [Status::Pass, Status::Pass, Status::Fail]
        );
        assert!(v[2].summary.contains("east.local"), "{}", v[2].summary);
        assert!(v[2].evidence.iter().any(|e| e.contains("(differs)")));
    }

    #[test]
    fn one_stale_namespace_is_found_inside_a_cluster() {
        let v = check_root_consistency(&[cluster(
            "west",
            "cluster.local",
            &[
                ("sample", "root-istiod.pem"),
                ("legacy", "root-istiod.pem"),
                ("old", "root-meshca.pem"),
            ],
        )]);
        assert_eq!(v[0].status, Status::Fail);
        assert!(
            v[0].summary.starts_with("namespace old"),
            "{}",
            v[0].summary
        );
    }

    #[test]
    fn shared_root_during_rotation_warns() {
        let mut c = cluster(
            "west",
            "cluster.local",
            &[("a", "root-istiod.pem"), ("b", "root-istiod.pem")],
        );
        let (mut both, _) = root("root-istiod.pem");
        both.extend(root("root-meshca.pem").0);
        both.sort();
        c.configmaps.push(RootConfigMap {
            namespace: "c".into(),
            fingerprints: Ok(both),
            subjects: vec![],
        });
        assert_eq!(check_root_consistency(&[c])[0].status, Status::Warn);
    }

    #[test]
    fn unparseable_configmap_fails() {
        let mut c = cluster("west", "cluster.local", &[("a", "root-istiod.pem")]);
        c.configmaps.push(RootConfigMap {
            namespace: "b".into(),
            fingerprints: Err("no PEM".into()),
            subjects: vec![],
        });
        assert_eq!(check_root_consistency(&[c])[0].status, Status::Fail);
    }
}
