//! certs.root-consistency: in a multi-cluster mesh every cluster must trust the same root and issue
//! certificates in the same trust domain, or cross-cluster mTLS fails with "unknown CA" while each cluster
//! looks healthy on its own. Two questions, answered separately because they have different fixes:
//! inside one cluster, does every namespace's `istio-ca-root-cert` carry that cluster's own root (the one in
//! the control-plane namespace, which istiod publishes from its CA)? A namespace that differs is stale or
//! hand-edited. Across clusters, do the clusters' own roots and trust domains agree? A cluster that differs
//! needs a shared root. A majority over every namespace of every cluster answers neither: with two clusters
//! it names a namespace of whichever cluster has fewer namespaces.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::chain::RootKind;
use crate::model::{CheckId, Finding, Status};

/// One namespace's `istio-ca-root-cert`.
#[derive(Debug, Clone, Serialize)]
pub struct RootConfigMap {
    pub namespace: String,
    /// SHA-256 fingerprints of the roots in `root-cert.pem`, sorted; `Err` when it does not parse.
    pub fingerprints: Result<Vec<String>, String>,
    pub subjects: Vec<String>,
    /// Which CA each root is (same order as `subjects`).
    pub kinds: Vec<RootKind>,
}

/// What one cluster trusts.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterTrust {
    pub context: String,
    pub trust_domain: String,
    pub trust_domain_source: String,
    /// The control-plane namespace (istio-system): its `istio-ca-root-cert` is the cluster's own root.
    pub istio_namespace: String,
    /// That namespace's ConfigMap, when it exists (it is also in `configmaps` when listed).
    pub control_plane: Option<RootConfigMap>,
    pub configmaps: Vec<RootConfigMap>,
    pub commands: Vec<String>,
}

fn key(fps: &[String]) -> String {
    fps.join(",")
}

fn short(fps: &[String]) -> String {
    fps.iter().map(|f| format!("{}…", f.get(..16).unwrap_or(f))).collect::<Vec<_>>().join(" + ")
}

/// `7167191b6e9cdb91… (istiod's own CA)`: a root set with what it is.
fn described(cm: &RootConfigMap) -> String {
    let fps = cm.fingerprints.as_deref().unwrap_or_default();
    let mut kinds: Vec<&str> = cm.kinds.iter().map(|k| k.describe()).collect();
    kinds.dedup();
    if kinds.is_empty() { short(fps) } else { format!("{} ({})", short(fps), kinds.join(" + ")) }
}

/// The most common value; ties go to the one seen first, so the result does not depend on hashing.
fn majority<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, v) in values.enumerate() {
        let e = counts.entry(v).or_insert((0, i));
        e.0 += 1;
    }
    counts.into_iter().max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1))).map(|(k, _)| k.to_owned())
}

/// The cluster's own root and where it came from: the control-plane namespace's ConfigMap, or (when that
/// is missing or broken) the root most of the cluster's namespaces carry, said as such.
fn own_root(c: &ClusterTrust) -> Option<(RootConfigMap, String)> {
    if let Some(cm) = c.control_plane.as_ref().filter(|cm| cm.fingerprints.is_ok()) {
        return Some((cm.clone(), format!("ConfigMap {}/istio-ca-root-cert", cm.namespace)));
    }
    let keys: Vec<String> =
        c.configmaps.iter().filter_map(|cm| cm.fingerprints.as_ref().ok().map(|f| key(f))).collect();
    let k = majority(keys.iter().map(String::as_str))?;
    let cm = c.configmaps.iter().find(|cm| cm.fingerprints.as_ref().is_ok_and(|f| key(f) == k))?;
    Some((
        cm.clone(),
        format!("the root most namespaces carry (no readable istio-ca-root-cert in {})", c.istio_namespace),
    ))
}

const REMEDY_SHARED_ROOT: &str = "give every cluster's istiod certificates from one root (plug-in CA: the same root-cert.pem in each cluster's cacerts secret, then restart istiod and the workloads)";
const REMEDY_TRUST_DOMAIN: &str =
    "set the same meshConfig.trustDomain everywhere, or list the others in meshConfig.trustDomainAliases";

/// Inside one cluster: every namespace's `istio-ca-root-cert` against the cluster's own root.
pub fn check_namespaces(c: &ClusterTrust) -> Finding {
    let mut f = Finding::new(CheckId::CertsRootConsistency, &c.context, format!("namespaces of cluster {}", c.context));
    for cmd in &c.commands {
        f = f.command(cmd.clone());
    }
    let Some((own, own_source)) = own_root(c) else {
        let st = if c.configmaps.is_empty() {
            "no istio-ca-root-cert ConfigMap found: istiod has not published its root (is the control plane installed?)"
        } else {
            "no istio-ca-root-cert in this cluster parses as PEM"
        };
        return f
            .status(Status::Warn, st)
            .remediation(format!("check that istiod runs in {} and can write ConfigMaps", c.istio_namespace));
    };
    let own_fps = own.fingerprints.clone().unwrap_or_default();
    f = f.evidence(format!("this cluster's root: {} from {own_source}", described(&own)));
    let mut worst = Status::Pass;
    let mut summary = String::new();
    let mut bump = |st: Status, text: String| {
        if st > worst {
            worst = st;
            summary = text;
        }
    };
    let mut by_root: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut rows = Vec::new();
    for cm in &c.configmaps {
        match &cm.fingerprints {
            Err(e) => {
                f = f.evidence(format!("namespace {}: root-cert.pem does not parse: {e}", cm.namespace));
                bump(Status::Fail, format!("istio-ca-root-cert in {} does not parse", cm.namespace));
                rows.push(json!({"namespace": cm.namespace, "error": e}));
            }
            Ok(fps) => {
                let same = *fps == own_fps;
                by_root.entry(key(fps)).or_default().push(&cm.namespace);
                rows.push(json!({
                    "namespace": cm.namespace, "fingerprints": fps, "subjects": cm.subjects,
                    "kinds": cm.kinds, "matches_cluster_root": same,
                }));
                if same {
                    continue;
                }
                if fps.iter().any(|p| own_fps.contains(p)) {
                    bump(
                        Status::Warn,
                        format!(
                            "namespace {} trusts {} — shares a root with this cluster's {} but not all of them (a root rotation in progress?)",
                            cm.namespace,
                            described(cm),
                            described(&own)
                        ),
                    );
                } else {
                    bump(
                        Status::Fail,
                        format!(
                            "namespace {} trusts root {}, not this cluster's root {} ({own_source})",
                            cm.namespace,
                            described(cm),
                            described(&own)
                        ),
                    );
                }
            }
        }
    }
    for (k, namespaces) in &by_root {
        let fps: Vec<String> = k.split(',').map(str::to_owned).collect();
        let mark = if fps == own_fps { " (the cluster's root)" } else { " (differs)" };
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
        "cluster_root": {"fingerprints": own_fps, "subjects": own.subjects, "kinds": own.kinds, "source": own_source},
        "namespaces": rows,
    }));
    match worst {
        Status::Pass => f.status(
            Status::Pass,
            format!("all {} namespaces trust this cluster's root {}", c.configmaps.len(), described(&own)),
        ),
        st => f
            .status(st, summary)
            .remediation(format!(
                "istiod rewrites istio-ca-root-cert in every namespace from its CA: check that istiod in {} runs and may update ConfigMaps there, then compare again",
                c.istio_namespace
            ))
            .remediation("a namespace whose workloads still use the old root needs its pods restarted after the ConfigMap is fixed"),
    }
}

/// Across clusters: each cluster's own root and trust domain against the others'. `None` for one cluster.
/// The reference is the root (and trust domain) most clusters have; with no strict majority, the first
/// cluster's, so `--context A,B` reads as "B against A".
pub fn check_clusters(clusters: &[ClusterTrust]) -> Option<Finding> {
    if clusters.len() < 2 {
        return None;
    }
    let contexts: Vec<&str> = clusters.iter().map(|c| c.context.as_str()).collect();
    let mut f =
        Finding::new(CheckId::CertsRootConsistency, contexts.join(","), format!("clusters {}", contexts.join(", ")));
    for cmd in clusters.iter().flat_map(|c| &c.commands) {
        f = f.command(cmd.clone());
    }
    let roots: Vec<Option<(RootConfigMap, String)>> = clusters.iter().map(own_root).collect();
    let reference = |values: &[Option<String>]| -> Option<String> {
        let present: Vec<&str> = values.iter().flatten().map(String::as_str).collect();
        let m = majority(present.iter().copied())?;
        let count = present.iter().filter(|v| **v == m).count();
        if count * 2 > clusters.len() { Some(m) } else { values.iter().flatten().next().cloned() }
    };
    let root_keys: Vec<Option<String>> =
        roots.iter().map(|r| r.as_ref().and_then(|(cm, _)| cm.fingerprints.as_ref().ok().map(|f| key(f)))).collect();
    let ref_root = reference(&root_keys);
    let tds: Vec<Option<String>> = clusters.iter().map(|c| Some(c.trust_domain.clone())).collect();
    let ref_td = reference(&tds);
    let holders = |k: &Option<String>, values: &[Option<String>]| -> Vec<&str> {
        values.iter().zip(&contexts).filter(|(v, _)| v.is_some() && *v == k).map(|(_, c)| *c).collect()
    };
    let ref_root_holders = holders(&ref_root, &root_keys);
    let ref_desc = ref_root_holders
        .first()
        .and_then(|ctx| contexts.iter().position(|c| c == ctx))
        .and_then(|i| roots[i].as_ref())
        .map(|(cm, _)| described(cm))
        .unwrap_or_default();
    let ref_fps: Vec<String> =
        ref_root.as_deref().map(|k| k.split(',').map(str::to_owned).collect()).unwrap_or_default();

    let mut worst = Status::Pass;
    let mut problems: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for ((c, root), k) in clusters.iter().zip(&roots).zip(&root_keys) {
        f = f.evidence(format!(
            "{}: root {}, trust domain {} ({})",
            c.context,
            root.as_ref()
                .map(|(cm, src)| format!("{} from {src}", described(cm)))
                .unwrap_or_else(|| "unknown (no readable istio-ca-root-cert)".into()),
            c.trust_domain,
            c.trust_domain_source
        ));
        rows.push(json!({
            "context": c.context,
            "root": root.as_ref().map(|(cm, src)| json!({
                "fingerprints": cm.fingerprints.as_ref().ok(), "subjects": cm.subjects, "kinds": cm.kinds, "source": src,
            })),
            "trust_domain": c.trust_domain,
            "matches_root": k.is_some() && *k == ref_root,
            "matches_trust_domain": Some(&c.trust_domain) == ref_td.as_ref(),
        }));
        match (root, k) {
            (None, _) | (_, None) => {
                worst = worst.max(Status::Warn);
                problems.push(format!("{}'s root is unknown (no readable istio-ca-root-cert)", c.context));
            }
            (Some((cm, _)), Some(k)) if Some(k) != ref_root.as_ref() => {
                let fps = cm.fingerprints.as_deref().unwrap_or_default();
                if fps.iter().any(|p| ref_fps.contains(p)) {
                    worst = worst.max(Status::Warn);
                    problems.push(format!(
                        "{} trusts {}, which shares a root with {}'s {} but not all of them (a root migration in progress?)",
                        c.context, described(cm), ref_root_holders.join(", "), ref_desc));
                } else {
                    worst = worst.max(Status::Fail);
                    problems.push(format!(
                        "{} trusts root {}, not {}'s {}",
                        c.context,
                        described(cm),
                        ref_root_holders.join(", "),
                        ref_desc
                    ));
                }
            }
            _ => {}
        }
        if Some(&c.trust_domain) != ref_td.as_ref() {
            worst = worst.max(Status::Fail);
            problems.push(format!(
                "{} uses trust domain {}, not {}'s {}",
                c.context,
                c.trust_domain,
                holders(&ref_td, &tds).join(", "),
                ref_td.clone().unwrap_or_default()
            ));
        }
    }
    f = f.data(json!({
        "reference": {"fingerprints": ref_fps, "trust_domain": ref_td, "contexts": ref_root_holders},
        "clusters": rows,
    }));
    Some(match worst {
        Status::Pass => f.status(
            Status::Pass,
            format!(
                "all {} clusters trust root {} and use trust domain {}",
                clusters.len(),
                ref_desc,
                ref_td.unwrap_or_default()
            ),
        ),
        st => {
            let mut summary = problems.join("; ");
            if st == Status::Fail {
                let roots = problems.iter().any(|p| p.contains(" trusts root "));
                let tds = problems.iter().any(|p| p.contains("trust domain"));
                summary.push_str(match (roots, tds) {
                    (true, true) => {
                        ": mTLS between these clusters fails (unknown CA, and SPIFFE ids outside the trust domain)"
                    }
                    (true, false) => ": mTLS between these clusters fails (unknown CA)",
                    _ => ": mTLS between these clusters fails (SPIFFE ids outside the peer's trust domain)",
                });
            }
            let mut f = f.status(st, summary);
            if problems.iter().any(|p| p.contains(" trusts ")) {
                f = f.remediation(REMEDY_SHARED_ROOT);
            }
            if problems.iter().any(|p| p.contains("trust domain")) {
                f = f.remediation(REMEDY_TRUST_DOMAIN);
            }
            f
        }
    })
}

/// Every cluster's namespaces, then (with two or more clusters) the clusters against each other.
pub fn check_root_consistency(clusters: &[ClusterTrust]) -> Vec<Finding> {
    let mut out: Vec<Finding> = clusters.iter().map(check_namespaces).collect();
    out.extend(check_clusters(clusters));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::certs::chain::classify_root;
    use crate::parse::x509::{fingerprint, parse_pem_bundle, summarize};

    fn cm(ns: &str, file: &str) -> RootConfigMap {
        let certs = parse_pem_bundle(&crate::test_support::fixture_bytes("certs", file)).unwrap();
        let mut fps: Vec<String> = certs.iter().map(fingerprint).collect();
        fps.sort();
        RootConfigMap {
            namespace: ns.into(),
            fingerprints: Ok(fps),
            subjects: certs.iter().map(|c| summarize(c).subject).collect(),
            kinds: certs.iter().map(|c| classify_root(c, Some("cluster.local"))).collect(),
        }
    }

    /// A cluster whose istio-system carries `own` and whose other namespaces carry `roots`.
    fn cluster(ctx: &str, td: &str, own: Option<&str>, roots: &[(&str, &str)]) -> ClusterTrust {
        let control_plane = own.map(|f| cm("istio-system", f));
        let mut configmaps: Vec<RootConfigMap> = control_plane.iter().cloned().collect();
        configmaps.extend(roots.iter().map(|(ns, f)| cm(ns, f)));
        ClusterTrust {
            context: ctx.into(),
            trust_domain: td.into(),
            trust_domain_source: "ConfigMap istio-system/istio".into(),
            istio_namespace: "istio-system".into(),
            control_plane,
            configmaps,
            commands: vec![],
        }
    }

    fn statuses(v: &[Finding]) -> Vec<Status> {
        v.iter().map(|f| f.status).collect()
    }

    /// The local mesh's shape, which the old all-namespaces majority got wrong: each cluster is consistent
    /// on its own, east has more namespaces, and the old report blamed "namespace authz-ns" of west.
    #[test]
    fn two_consistent_clusters_with_different_roots_fail_only_across() {
        let east = cluster(
            "mesh-east",
            "cluster.local",
            Some("root-istiod.pem"),
            &[("sample", "root-istiod.pem"), ("legacy", "root-istiod.pem"), ("extra", "root-istiod.pem")],
        );
        let west = cluster(
            "mesh-west",
            "cluster.local",
            Some("root-meshca.pem"),
            &[("authz-ns", "root-meshca.pem"), ("sample", "root-meshca.pem")],
        );
        let v = check_root_consistency(&[east, west]);
        assert_eq!(statuses(&v), [Status::Pass, Status::Pass, Status::Fail]);
        assert!(v[1].summary.contains("this cluster's root"), "{}", v[1].summary);
        assert!(v[1].summary.contains("Mesh CA"), "{}", v[1].summary);
        let across = &v[2];
        assert_eq!(across.context, "mesh-east,mesh-west");
        assert!(
            across.summary.starts_with("mesh-west trusts root ")
                && across.summary.contains("(Mesh CA)")
                && across.summary.contains("not mesh-east's"),
            "{}",
            across.summary
        );
        assert!(!across.summary.contains("namespace"), "{}", across.summary);
        assert_eq!(across.remediation, [REMEDY_SHARED_ROOT]);
    }

    #[test]
    fn the_odd_cluster_out_is_named_against_the_majority() {
        let v = check_root_consistency(&[
            cluster("east", "east.local", Some("root-east.pem"), &[("sample", "root-east.pem")]),
            cluster("west", "cluster.local", Some("root-istiod.pem"), &[("legacy", "root-istiod.pem")]),
            cluster("central", "cluster.local", Some("root-istiod.pem"), &[]),
        ]);
        assert_eq!(statuses(&v), [Status::Pass, Status::Pass, Status::Pass, Status::Fail]);
        let s = &v[3].summary;
        assert!(s.starts_with("east trusts root "), "{s}");
        assert!(s.contains("not west, central's"), "{s}");
        assert!(s.contains("east uses trust domain east.local, not west, central's cluster.local"), "{s}");
        assert_eq!(v[3].remediation.len(), 2);
        assert_eq!(v[3].data["reference"]["contexts"], json!(["west", "central"]));
    }

    #[test]
    fn same_root_everywhere_passes_and_one_cluster_has_no_cross_check() {
        let a = cluster("a", "cluster.local", Some("root-istiod.pem"), &[("x", "root-istiod.pem")]);
        let b = cluster("b", "cluster.local", Some("root-istiod.pem"), &[]);
        let v = check_root_consistency(&[a.clone(), b]);
        assert_eq!(statuses(&v), [Status::Pass; 3]);
        assert!(v[2].summary.starts_with("all 2 clusters trust root"), "{}", v[2].summary);
        assert_eq!(check_root_consistency(&[a]).len(), 1);
    }

    #[test]
    fn one_stale_namespace_is_found_inside_a_cluster_even_when_it_is_the_majority() {
        // Two namespaces still carry an old root, more than carry the new one: istio-system decides.
        let v = check_root_consistency(&[cluster(
            "west",
            "cluster.local",
            Some("root-istiod.pem"),
            &[("old", "root-meshca.pem"), ("older", "root-meshca.pem")],
        )]);
        assert_eq!(v[0].status, Status::Fail);
        assert!(v[0].summary.starts_with("namespace old trusts root"), "{}", v[0].summary);
        assert!(v[0].summary.contains("ConfigMap istio-system/istio-ca-root-cert"), "{}", v[0].summary);
    }

    #[test]
    fn without_a_control_plane_configmap_the_cluster_majority_stands_in_and_says_so() {
        let v = check_root_consistency(&[cluster(
            "west",
            "cluster.local",
            None,
            &[("a", "root-istiod.pem"), ("b", "root-istiod.pem"), ("c", "root-meshca.pem")],
        )]);
        assert_eq!(v[0].status, Status::Fail);
        assert!(v[0].summary.starts_with("namespace c "), "{}", v[0].summary);
        assert!(v[0].evidence[0].contains("the root most namespaces carry"), "{:?}", v[0].evidence);
        let empty = cluster("x", "cluster.local", None, &[]);
        assert_eq!(check_root_consistency(&[empty])[0].status, Status::Warn);
    }

    #[test]
    fn shared_root_during_rotation_warns() {
        let mut c = cluster("west", "cluster.local", Some("root-istiod.pem"), &[("a", "root-istiod.pem")]);
        let mut both = cm("c", "root-istiod.pem");
        let other = cm("c", "root-meshca.pem");
        if let (Ok(b), Ok(o)) = (&mut both.fingerprints, &other.fingerprints) {
            b.extend(o.iter().cloned());
            b.sort();
        }
        c.configmaps.push(both);
        assert_eq!(check_root_consistency(&[c])[0].status, Status::Warn);
    }

    #[test]
    fn unparseable_configmap_fails() {
        let mut c = cluster("west", "cluster.local", Some("root-istiod.pem"), &[]);
        c.configmaps.push(RootConfigMap {
            namespace: "b".into(),
            fingerprints: Err("no PEM".into()),
            subjects: vec![],
            kinds: vec![],
        });
        assert_eq!(check_root_consistency(&[c])[0].status, Status::Fail);
    }
}
