//! certs.chain, certs.root and certs.expiry: the runbook's step 3 read for the operator. A served chain is
//! judged link by link (each certificate signed by the next), its root is named (Mesh CA, istiod's own CA, or
//! another CA) and compared with the `istio-ca-root-cert` ConfigMap every sidecar trusts, the leaf's SPIFFE
//! id is checked against the mesh's trust domain, and every certificate's validity is judged against the
//! clock and against how Istio rotates it.

use openssl::nid::Nid;
use openssl::x509::X509;
use serde_json::json;

use crate::model::{CheckId, Finding, Status};
use crate::parse::x509::{CertSummary, fingerprint, name_entry, relative, rfc3339, signed_by, summarize};
use crate::parse::xfcc::{SpiffeId, parse_spiffe, spiffe_trust_domain};

/// Marks Mesh CA's root: its CN is `istio_v1_cloud_workload_root-signer-<n>-<date>`.
pub const MESH_CA_ROOT_MARK: &str = "istio_v1_cloud_workload_root-signer-";

/// Roots the sidecars trust, with where they came from.
#[derive(Debug, Clone)]
pub struct MeshRoots {
    /// `ConfigMap sample/istio-ca-root-cert`, or the file given with `--root-cert`.
    pub source: String,
    pub roots: Vec<X509>,
}

/// A chain to judge and everything to judge it against.
#[derive(Debug, Clone, Default)]
pub struct ChainEvidence {
    /// As served: leaf first.
    pub certs: Vec<X509>,
    /// How the chain was obtained, for evidence.
    pub source: String,
    /// How the handshake went (s_client's story), when there was one.
    pub handshake: Option<String>,
    pub mesh_roots: Option<MeshRoots>,
    /// The mesh's trust domain and where it was read from.
    pub trust_domain: Option<(String, String)>,
    /// The identity the leaf must carry, when known (the admin method reads a pod's own certificate).
    pub expected_identity: Option<SpiffeId>,
    pub commands: Vec<String>,
}

/// When validity turns into a warning.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryPolicy {
    /// Roots and intermediates: warn when they expire within this many seconds.
    pub ca_warn_within: i64,
    /// Workload (leaf) certificates: warn within this many seconds; `None` means "when past the point where
    /// istio-agent should have rotated it", less than 45% of its lifetime left (the agent renews at half of the
    /// lifetime, SECRET_GRACE_PERIOD_RATIO 0.5, with a little jitter).
    pub leaf_warn_within: Option<i64>,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        ExpiryPolicy { ca_warn_within: 30 * 86_400, leaf_warn_within: None }
    }
}

/// Which CA issued the mesh's certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootKind {
    MeshCa,
    Istiod,
    Other,
}

impl RootKind {
    pub fn describe(self) -> &'static str {
        match self {
            RootKind::MeshCa => "Mesh CA",
            RootKind::Istiod => "istiod's own CA",
            RootKind::Other => "another CA (plugged-in CA or CA Service)",
        }
    }
}

/// Name a root the runbook's way: Mesh CA by its CN, istiod's self-signed CA by O = trust domain.
pub fn classify_root(root: &X509, trust_domain: Option<&str>) -> RootKind {
    let cn = name_entry(root.subject_name(), Nid::COMMONNAME).unwrap_or_default();
    if cn.contains(MESH_CA_ROOT_MARK) {
        return RootKind::MeshCa;
    }
    let o = name_entry(root.subject_name(), Nid::ORGANIZATIONNAME);
    match (o, trust_domain) {
        (Some(o), Some(td)) if o == td => RootKind::Istiod,
        _ => RootKind::Other,
    }
}

fn self_signed(c: &X509) -> bool {
    c.subject_name().to_der().ok().zip(c.issuer_name().to_der().ok()).is_some_and(|(s, i)| s == i) && signed_by(c, c)
}

fn role(i: usize, n: usize, c: &X509) -> &'static str {
    if i == 0 {
        "leaf"
    } else if i + 1 == n && self_signed(c) {
        "root"
    } else {
        "intermediate"
    }
}

fn short(fp: &str) -> &str {
    fp.get(..16).unwrap_or(fp)
}

fn label(s: &CertSummary) -> String {
    if s.subject.is_empty() {
        s.uri_sans.first().map(|u| format!("(empty subject, SAN {u})")).unwrap_or_else(|| "(empty subject)".into())
    } else {
        s.subject.clone()
    }
}

/// The three findings for one chain: certs.chain, certs.root, certs.expiry.
pub fn check_chain(ev: &ChainEvidence, context: &str, target: &str, now: i64, policy: ExpiryPolicy) -> Vec<Finding> {
    let base = |id| {
        let mut f = Finding::new(id, context, target);
        for c in &ev.commands {
            f = f.command(c.clone());
        }
        f
    };
    if ev.certs.is_empty() {
        let why = ev.handshake.clone().unwrap_or_else(|| "no certificate".into());
        let f = base(CheckId::CertsChain)
            .status(
                Status::Error,
                format!("no certificate chain to judge: {why}"),
            )
            .evidence(format!("from {}", ev.source))
            .remediation("check that the destination host and port are right and that its sidecar listens with mTLS (STRICT or PERMISSIVE); `no peer certificate available` means the port answered without TLS")
            .data(json!({"certificates": [], "handshake": ev.handshake}));
        return vec![f];
    }
    let summaries: Vec<CertSummary> = ev.certs.iter().map(summarize).collect();
    let n = ev.certs.len();

    // Links: cert i signed by cert i+1.
    let mut links = Vec::new();
    let mut broken = None;
    for i in 0..n.saturating_sub(1) {
        let ok = signed_by(&ev.certs[i], &ev.certs[i + 1]);
        links.push(json!({"child": i, "issuer": i + 1, "verified": ok}));
        if !ok && broken.is_none() {
            broken = Some(i);
        }
    }
    // Anchor: the last certificate is self-signed, or signed by a root the mesh trusts.
    let last = &ev.certs[n - 1];
    let mesh_anchor = ev.mesh_roots.as_ref().and_then(|m| m.roots.iter().find(|r| signed_by(last, r)).cloned());
    let (anchor_kind, root): (&str, Option<X509>) = if self_signed(last) {
        ("self-signed", Some(last.clone()))
    } else if let Some(r) = &mesh_anchor {
        ("istio-ca-root-cert", Some(r.clone()))
    } else {
        ("none", None)
    };

    let leaf = &summaries[0];
    let leaf_spiffe_uri = leaf.uri_sans.iter().find(|u| u.starts_with("spiffe://"));
    let leaf_td = leaf_spiffe_uri.and_then(|u| spiffe_trust_domain(u));
    let leaf_id = leaf_spiffe_uri.and_then(|u| parse_spiffe(u));

    let certs_json: Vec<_> = summaries
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["position"] = json!(i);
            v["role"] = json!(role(i, n, &ev.certs[i]));
            v
        })
        .collect();

    // ---- certs.chain
    let mut chain = base(CheckId::CertsChain);
    chain = chain.evidence(format!("{n} certificates from {}", ev.source));
    if let Some(h) = &ev.handshake {
        chain = chain.evidence(format!("handshake: {h}"));
    }
    for (i, s) in summaries.iter().enumerate() {
        chain = chain.evidence(format!(
            "{i} {}: {} issued by {} ({}, serial {})",
            role(i, n, &ev.certs[i]),
            label(s),
            if s.issuer.is_empty() { "(empty)" } else { &s.issuer },
            s.key,
            s.serial
        ));
    }
    chain = chain.data(json!({
        "certificates": certs_json,
        "links": links,
        "anchor": anchor_kind,
        "spiffe_id": leaf_spiffe_uri,
        "trust_domain": leaf_td,
        "handshake": ev.handshake,
    }));
    let chain = if let Some(i) = broken {
        chain
            .status(
                Status::Fail,
                format!(
                    "broken link: certificate {i} ({}) is not signed by certificate {} ({}) served after it",
                    label(&summaries[i]),
                    i + 1,
                    label(&summaries[i + 1])
                ),
            )
            .remediation("the workload serves an intermediate that did not sign its certificate: the CA's intermediate changed without the chain being re-issued; restart the workload so istio-agent requests a new certificate, and check the CA's cert-chain.pem (cacerts secret or CA Service pool)")
    } else if anchor_kind == "none" && ev.mesh_roots.is_some() {
        let src = ev.mesh_roots.as_ref().map(|m| m.source.clone()).unwrap_or_default();
        chain
            .status(
                Status::Fail,
                format!(
                    "the chain ends at {} and no root in {src} signed it",
                    label(&summaries[n - 1])
                ),
            )
            .remediation(format!(
                "peers that trust {src} reject this certificate; make the CA that issued it and {src} agree (see certs.root)"
            ))
    } else if leaf_spiffe_uri.is_none() {
        chain
            .status(
                Status::Fail,
                "the leaf certificate has no SPIFFE id (URI SAN spiffe://...): it is not an Istio workload certificate",
            )
            .remediation("this port is served by something other than an istio-proxy sidecar (the application's own TLS?); check the port and the destination")
    } else if let (Some(td), Some((want, src))) = (leaf_td, &ev.trust_domain) {
        if td != want {
            chain
                .status(
                    Status::Fail,
                    format!(
                        "the leaf's trust domain {td} is not the mesh's {want} ({src})"
                    ),
                )
                .remediation(format!(
                    "certificates for {td} are rejected by peers that expect {want}: align meshConfig.trustDomain across clusters or add {td} to meshConfig.trustDomainAliases"
                ))
        } else {
            identity_or_pass(chain, &leaf_id, ev, anchor_kind, leaf_spiffe_uri)
        }
    } else {
        identity_or_pass(chain, &leaf_id, ev, anchor_kind, leaf_spiffe_uri)
    };

    // ---- certs.root
    let mut rootf = base(CheckId::CertsRoot);
    let rootf = match &root {
        None => rootf
            .status(
                Status::Warn,
                format!(
                    "the root is not served and no istio-ca-root-cert root signed {}: cannot name the CA",
                    label(&summaries[n - 1])
                ),
            )
            .evidence(format!(
                "last certificate served: {} issued by {}",
                label(&summaries[n - 1]),
                summaries[n - 1].issuer
            ))
            .remediation("compare with the root the sidecars trust: kubectl get configmap istio-ca-root-cert -o jsonpath='{.data.root-cert\\.pem}'")
            .data(json!({"kind": null, "root": null})),
        Some(r) => {
            let kind = classify_root(r, leaf_td);
            let rs = summarize(r);
            let fp = fingerprint(r);
            rootf = rootf.evidence(format!(
                "root {} (sha256 {}…) from {}",
                label(&rs),
                short(&fp),
                if anchor_kind == "self-signed" { "the served chain" } else { "istio-ca-root-cert" }
            ));
            let o = name_entry(r.subject_name(), Nid::ORGANIZATIONNAME);
            let why = match kind {
                RootKind::MeshCa => format!("CN contains {MESH_CA_ROOT_MARK}"),
                RootKind::Istiod => format!("O = {} equals the trust domain", o.clone().unwrap_or_default()),
                RootKind::Other => match (&o, leaf_td) {
                    (Some(o), Some(td)) => format!("neither a Mesh CA root nor O = trust domain (O = {o}, trust domain {td})"),
                    _ => "neither a Mesh CA root nor O = trust domain".into(),
                },
            };
            rootf = rootf.evidence(format!("{}: {why}", kind.describe()));
            let published = ev.mesh_roots.as_ref().map(|m| {
                let prints: Vec<String> = m.roots.iter().map(fingerprint).collect();
                (m.source.clone(), prints.contains(&fp), prints)
            });
            rootf = rootf.data(json!({
                "kind": kind,
                "root": rs,
                "trust_domain": leaf_td,
                "published": published.as_ref().map(|(src, matches, prints)| json!({
                    "source": src, "matches": matches, "fingerprints": prints,
                })),
            }));
            match published {
                Some((src, true, _)) => rootf.status(
                    Status::Pass,
                    format!("root is {} and matches {src}", kind.describe()),
                ),
                Some((src, false, prints)) => rootf
                    .status(
                        Status::Fail,
                        format!("root is {} but differs from {src}", kind.describe()),
                    )
                    .evidence(format!(
                        "{src} holds sha256 {}",
                        prints.iter().map(|p| format!("{}…", short(p))).collect::<Vec<_>>().join(", ")
                    ))
                    .remediation(format!(
                        "sidecars that trust {src} reject this workload: the workload's certificate comes from another CA (another cluster's istiod, or a CA changed without restarting workloads); restart the workload, or make both CAs share a root (plug-in CA certificates)"
                    )),
                None => rootf.status(
                    Status::Pass,
                    format!(
                        "root is {} (not compared with istio-ca-root-cert: give --root-cert FILE or run against a cluster)",
                        kind.describe()
                    ),
                ),
            }
        }
    };

    // ---- certs.expiry
    let mut judged: Vec<(String, &'static str, CertSummary)> =
        summaries.iter().enumerate().map(|(i, s)| (label(s), role(i, n, &ev.certs[i]), s.clone())).collect();
    if anchor_kind == "istio-ca-root-cert"
        && let Some(r) = &root
    {
        let s = summarize(r);
        judged.push((label(&s), "root", s));
    }
    let mut expiry = base(CheckId::CertsExpiry);
    let mut worst = Status::Pass;
    let mut summary = String::new();
    let mut rows = Vec::new();
    for (name, role, s) in &judged {
        let lifetime = s.not_after - s.not_before;
        let left = s.not_after - now;
        let threshold = if *role == "leaf" {
            policy.leaf_warn_within.unwrap_or(lifetime * 45 / 100)
        } else {
            policy.ca_warn_within
        };
        let (status, text) = if s.not_before > now {
            (
                Status::Fail,
                format!(
                    "{role} {name} is not valid yet: from {} ({})",
                    rfc3339(s.not_before),
                    relative(s.not_before, now)
                ),
            )
        } else if left < 0 {
            (Status::Fail, format!("{role} {name} expired {} ({})", relative(s.not_after, now), rfc3339(s.not_after)))
        } else if left < threshold {
            let why = if *role == "leaf" && policy.leaf_warn_within.is_none() {
                " (past half its lifetime: istio-agent should have rotated it)"
            } else {
                ""
            };
            (Status::Warn, format!("{role} {name} expires {}{why}", relative(s.not_after, now)))
        } else {
            (
                Status::Pass,
                format!("{role} {name} valid until {} ({})", rfc3339(s.not_after), relative(s.not_after, now)),
            )
        };
        rows.push(json!({
            "subject": s.subject, "role": role, "not_before": s.not_before, "not_after": s.not_after,
            "seconds_left": left, "warn_within": threshold, "status": status,
        }));
        if status > worst {
            worst = status;
            summary = text.clone();
        }
        expiry = expiry.evidence(text);
    }
    if worst == Status::Pass {
        summary =
            format!("all {} certificates valid; leaf expires {}", judged.len(), relative(summaries[0].not_after, now));
    }
    expiry = expiry.data(json!({"now": now, "certificates": rows}));
    if worst == Status::Fail {
        let skew = judged.iter().any(|(_, _, s)| s.not_before > now);
        if skew {
            expiry = expiry.remediation("a certificate valid only in the future usually means clock skew between the CA and the nodes: check NTP on the nodes and on the CA host");
        } else {
            expiry = expiry.remediation("an expired workload certificate means istio-agent could not renew it: check the istio-proxy logs for CSR errors and istiod's (or Mesh CA's) reachability, then restart the workload");
        }
    } else if worst == Status::Warn {
        expiry = expiry.remediation("renew before it expires: for a workload certificate check the istio-proxy logs for failed CSRs and restart the workload; for a CA certificate rotate the CA (cacerts secret or CA pool)");
    }
    let expiry = expiry.status(worst, summary);
    vec![chain, rootf, expiry]
}

fn identity_or_pass(
    chain: Finding,
    leaf_id: &Option<SpiffeId>,
    ev: &ChainEvidence,
    anchor_kind: &str,
    uri: Option<&String>,
) -> Finding {
    if let (Some(got), Some(want)) = (leaf_id, &ev.expected_identity)
        && got != want
    {
        return chain
            .status(
                Status::Fail,
                format!("the leaf is {got}, expected {want}"),
            )
            .remediation("the certificate belongs to another workload: check the pod's serviceAccountName and that the right port was probed");
    }
    let anchor = match anchor_kind {
        "self-signed" => "ends at a self-signed root",
        "istio-ca-root-cert" => "ends at a root from istio-ca-root-cert",
        _ => "root not served and not available to verify the last link",
    };
    let status = if anchor_kind == "none" { Status::Warn } else { Status::Pass };
    chain.status(status, format!("every link verifies, {anchor}; leaf is {}", uri.map(String::as_str).unwrap_or("?")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::sclient::parse_sclient;
    use crate::parse::x509::parse_pem_bundle;

    fn read(name: &str) -> String {
        crate::test_support::fixture("certs", name)
    }

    /// The fixtures were judged valid at capture time; tests use that clock, not the real one.
    fn captured_at() -> i64 {
        read("captured-at").trim().parse().unwrap()
    }

    fn evidence(name: &str, root: Option<&str>) -> ChainEvidence {
        let out = parse_sclient(&read(name)).unwrap();
        let certs = out.pems.iter().map(|p| X509::from_pem(p.as_bytes()).unwrap()).collect();
        ChainEvidence {
            certs,
            source: name.into(),
            handshake: Some(out.handshake_story()),
            mesh_roots: root.map(|r| MeshRoots {
                source: format!("file {r}"),
                roots: parse_pem_bundle(read(r).as_bytes()).unwrap(),
            }),
            trust_domain: None,
            expected_identity: None,
            commands: vec![],
        }
    }

    fn run(ev: &ChainEvidence) -> (Finding, Finding, Finding) {
        let mut v = check_chain(ev, "", "t", captured_at(), ExpiryPolicy::default());
        assert_eq!(v.len(), 3);
        let e = v.pop().unwrap();
        let r = v.pop().unwrap();
        let c = v.pop().unwrap();
        (c, r, e)
    }

    #[test]
    fn istiod_chain_is_named_and_matches_its_root() {
        let mut ev = evidence("sclient-istiod.txt", Some("root-istiod.pem"));
        ev.trust_domain = Some(("cluster.local".into(), "--trust-domain".into()));
        let (c, r, e) = run(&ev);
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(c.summary.contains("spiffe://cluster.local/ns/sample/sa/httpbin"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.data["kind"], "istiod");
        assert_eq!(e.status, Status::Pass, "{e:?}");
    }

    #[test]
    fn meshca_chain_is_named_mesh_ca() {
        let (c, r, e) = run(&evidence("sclient-meshca.txt", Some("root-meshca.pem")));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert_eq!(r.data["kind"], "mesh-ca");
        assert_eq!(r.status, Status::Pass);
        assert_eq!(e.status, Status::Pass);
        assert_eq!(c.data["certificates"][1]["role"], "intermediate");
        assert_eq!(c.data["trust_domain"], "my-project.svc.id.goog");
    }

    #[test]
    fn meshca_root_differs_from_istiod_configmap() {
        let (_, r, _) = run(&evidence("sclient-meshca.txt", Some("root-istiod.pem")));
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("differs"), "{}", r.summary);
    }

    #[test]
    fn broken_link_fails_at_the_leaf() {
        let (c, _, _) = run(&evidence("sclient-broken-link.txt", Some("root-meshca.pem")));
        assert_eq!(c.status, Status::Fail);
        assert!(c.summary.starts_with("broken link: certificate 0"), "{}", c.summary);
        assert_eq!(c.data["links"][0]["verified"], false);
        assert_eq!(c.data["links"][1]["verified"], true);
    }

    #[test]
    fn expired_and_not_yet_valid_leaves_fail_expiry_only() {
        let (c, _, e) = run(&evidence("sclient-expired.txt", Some("root-istiod.pem")));
        assert_eq!(c.status, Status::Pass);
        assert_eq!(e.status, Status::Fail);
        assert!(e.summary.contains("expired"), "{}", e.summary);
        let (_, _, n) = run(&evidence("sclient-notyet.txt", Some("root-istiod.pem")));
        assert_eq!(n.status, Status::Fail);
        assert!(n.summary.contains("not valid yet"), "{}", n.summary);
        assert!(n.remediation[0].contains("clock skew"));
    }

    #[test]
    fn leaf_past_its_rotation_point_warns() {
        let ev = evidence("sclient-istiod.txt", None);
        let leaf = summarize(&ev.certs[0]);
        // 20 hours into a 24-hour certificate: istio-agent should have rotated it at 12 hours.
        let late = leaf.not_before + (leaf.not_after - leaf.not_before) * 80 / 100;
        let v = check_chain(&ev, "", "t", late, ExpiryPolicy::default());
        assert_eq!(v[2].status, Status::Warn, "{:?}", v[2]);
        assert!(v[2].summary.contains("rotated"));
        // Explicit threshold overrides the rotation rule.
        let policy = ExpiryPolicy { leaf_warn_within: Some(3600), ..Default::default() };
        assert_eq!(check_chain(&ev, "", "t", late, policy)[2].status, Status::Pass);
    }

    #[test]
    fn wrong_trust_domain_fails_chain_and_root() {
        let mut ev = evidence("sclient-wrong-trust-domain.txt", Some("root-istiod.pem"));
        ev.trust_domain = Some(("cluster.local".into(), "--trust-domain".into()));
        let (c, r, _) = run(&ev);
        assert_eq!(c.status, Status::Fail);
        assert!(c.summary.contains("east.local"), "{}", c.summary);
        // Named istiod (O = its own trust domain east.local) but not the root this cluster publishes.
        assert_eq!(r.data["kind"], "istiod");
        assert_eq!(r.status, Status::Fail);
        // Near miss: the same chain judged against its own trust domain and root passes.
        let mut ok = evidence("sclient-wrong-trust-domain.txt", Some("root-east.pem"));
        ok.trust_domain = Some(("east.local".into(), "--trust-domain".into()));
        let (c, r, _) = run(&ok);
        assert_eq!((c.status, r.status), (Status::Pass, Status::Pass));
    }

    #[test]
    fn chain_without_root_is_anchored_by_the_configmap() {
        let mut ev = evidence("sclient-meshca.txt", None);
        ev.certs.pop();
        let (c, r, _) = run(&ev);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert_eq!(r.status, Status::Warn);
        ev.mesh_roots = Some(MeshRoots {
            source: "ConfigMap sample/istio-ca-root-cert".into(),
            roots: parse_pem_bundle(read("root-meshca.pem").as_bytes()).unwrap(),
        });
        let (c, r, e) = run(&ev);
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert_eq!(c.data["anchor"], "istio-ca-root-cert");
        assert_eq!(r.data["kind"], "mesh-ca");
        assert_eq!(e.data["certificates"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn no_certificate_is_an_error() {
        let ev = evidence("sclient-plaintext.txt", None);
        let v = check_chain(&ev, "", "t", captured_at(), ExpiryPolicy::default());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].status, Status::Error);
        assert!(v[0].summary.contains("no peer certificate available"));
    }

    #[test]
    fn expected_identity_mismatch_fails() {
        let mut ev = evidence("sclient-istiod.txt", Some("root-istiod.pem"));
        ev.expected_identity = Some(SpiffeId::new("cluster.local", "sample", "sleep"));
        let (c, _, _) = run(&ev);
        assert_eq!(c.status, Status::Fail);
    }
}
