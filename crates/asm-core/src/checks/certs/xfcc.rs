//! certs.xfcc: the runbook's "Check mTLS certificates" steps 1–2. The destination's sidecar writes what it saw
//! of the caller's certificate into X-Forwarded-Client-Cert, so the header proves, from the destination's
//! side, that the hop used mTLS and with which identities. Its absence is itself the finding.

use serde_json::json;

use crate::model::{CheckId, Finding, Status};
use crate::parse::xfcc::{SpiffeId, XfccElement, parse_spiffe, parse_xfcc, spiffe_trust_domain};

/// What was observed and what the cluster says it should be.
#[derive(Debug, Clone, Default)]
pub struct XfccProbe {
    /// The header value; `None` when the response had no X-Forwarded-Client-Cert.
    pub header: Option<String>,
    /// The caller's expected identity (source pod's namespace and serviceAccountName).
    pub expected_source: Option<SpiffeId>,
    /// The destination's expected identity (its pods' serviceAccountName).
    pub expected_by: Option<SpiffeId>,
    /// The mesh's trust domain and where it was read from.
    pub trust_domain: Option<(String, String)>,
    pub commands: Vec<String>,
}

fn hop_line(i: usize, e: &XfccElement) -> String {
    format!(
        "hop {}: caller {} -> verified by {}{}",
        i + 1,
        e.uri.as_deref().unwrap_or("(no URI)"),
        e.by.as_deref().unwrap_or("(no By)"),
        e.subject.as_deref().filter(|s| !s.is_empty()).map(|s| format!(" (subject {s})")).unwrap_or_default()
    )
}

pub fn check_xfcc(p: &XfccProbe, context: &str, target: &str) -> Finding {
    let mut f = Finding::new(CheckId::CertsXfcc, context, target);
    for c in &p.commands {
        f = f.command(c.clone());
    }
    let Some(header) = &p.header else {
        return f
            .status(
                Status::Fail,
                "no X-Forwarded-Client-Cert header: no mTLS on that hop",
            )
            .evidence("the /headers response lists no X-Forwarded-Client-Cert")
            .remediation("check that both pods run an istio-proxy sidecar (namespace label istio-injection=enabled or istio.io/rev, then restart the workload)")
            .remediation("check that no DestinationRule sets trafficPolicy.tls.mode DISABLE for the destination, and run `kubectl asm-tls verify` to see whether plain text is accepted")
            .remediation("a PERMISSIVE PeerAuthentication accepts plain text silently; set STRICT once every client has a sidecar")
            .data(json!({"present": false, "elements": []}));
    };
    let elements = match parse_xfcc(header) {
        Ok(e) => e,
        Err(e) => {
            return f
                .status(Status::Error, format!("X-Forwarded-Client-Cert does not parse: {e}"))
                .evidence(format!("header value: {header}"))
                .data(json!({"present": true, "raw": header, "error": e.to_string()}));
        }
    };
    for (i, e) in elements.iter().enumerate() {
        f = f.evidence(hop_line(i, e));
    }
    let last = &elements[elements.len() - 1];
    let mut problems: Vec<String> = Vec::new();
    let mut remediation: Vec<String> = Vec::new();

    let caller = last.uri.as_deref().and_then(parse_spiffe);
    let caller_td = last.uri.as_deref().and_then(spiffe_trust_domain);
    match (&last.uri, &caller) {
        (None, _) => problems.push("the last element has no URI: the caller's certificate carries no SPIFFE id".into()),
        (Some(u), None) => {
            problems.push(format!("the caller's URI {u} is not an Istio SPIFFE id (spiffe://TD/ns/NS/sa/SA)"))
        }
        _ => {}
    }
    if let (Some(got), Some(want)) = (&caller, &p.expected_source)
        && (got.namespace != want.namespace || got.service_account != want.service_account)
    {
        problems.push(format!(
            "caller is {got}, but the source pod runs as namespace {} service account {}",
            want.namespace, want.service_account
        ));
        remediation.push(format!(
            "the request did not reach the destination as {want}: look for another proxy in between (a gateway or an egress) or a pod using another serviceAccountName"
        ));
    }
    if let (Some(td), Some((want, source))) = (caller_td, &p.trust_domain)
        && td != want
    {
        problems.push(format!("caller's trust domain {td} is not the mesh's {want} ({source})"));
        remediation.push(format!(
            "make every cluster issue certificates for trust domain {want} (meshConfig.trustDomain) or list {td} in meshConfig.trustDomainAliases"
        ));
    }
    match (&last.by, &p.expected_by) {
        (None, _) => {
            problems.push("the last element has no By: the destination's own certificate has no URI SAN".into())
        }
        (Some(by), Some(want)) if parse_spiffe(by).as_ref() != Some(want) => {
            problems.push(format!("By is {by}, but the destination should be {want}"));
            remediation.push(
                "another proxy terminated mTLS before the destination (a gateway, or a sidecar of another service): check the route with `istioctl proxy-config route`".into(),
            );
        }
        _ => {}
    }
    if let (Some(by), Some((want, _))) = (&last.by, &p.trust_domain)
        && let Some(td) = spiffe_trust_domain(by)
        && td != want
        && !problems.iter().any(|p| p.contains("By is"))
    {
        problems.push(format!("By {by} is in trust domain {td}, not the mesh's {want}"));
    }
    let data = json!({
        "present": true,
        "raw": header,
        "elements": elements,
        "caller": last.uri,
        "by": last.by,
        "expected_source": p.expected_source.as_ref().map(ToString::to_string),
        "expected_by": p.expected_by.as_ref().map(ToString::to_string),
        "trust_domain": p.trust_domain.as_ref().map(|(td, _)| td),
        "trust_domain_source": p.trust_domain.as_ref().map(|(_, s)| s),
        "problems": problems,
    });
    f = f.data(data);
    if !problems.is_empty() {
        let summary = problems[0].clone();
        for pr in &problems {
            f = f.evidence(pr.clone());
        }
        for r in remediation {
            f = f.remediation(r);
        }
        return f.status(Status::Fail, summary);
    }
    let mut compared = Vec::new();
    if p.expected_source.is_some() {
        compared.push("source");
    }
    if p.expected_by.is_some() {
        compared.push("destination");
    }
    if p.trust_domain.is_some() {
        compared.push("trust domain");
    }
    let how = if compared.is_empty() {
        " (nothing to compare with: pass --expect-source/--expect-by/--trust-domain)".to_owned()
    } else {
        format!("; {} match", compared.join(", "))
    };
    f.status(
        Status::Pass,
        format!(
            "mTLS: caller {} verified by {}{how}",
            last.uri.as_deref().unwrap_or("?"),
            last.by.as_deref().unwrap_or("?")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::xfcc::xfcc_from_text;

    fn header(name: &str) -> Option<String> {
        xfcc_from_text(&crate::test_support::fixture("certs", name)).unwrap()
    }

    fn probe(name: &str) -> XfccProbe {
        XfccProbe {
            header: header(name),
            expected_source: Some(SpiffeId::new("cluster.local", "legacy", "sleep")),
            expected_by: Some(SpiffeId::new("cluster.local", "sample", "httpbin")),
            trust_domain: Some(("cluster.local".into(), "--trust-domain".into())),
            commands: vec![],
        }
    }

    #[test]
    fn one_hop_passes_when_identities_match() {
        let f = check_xfcc(&probe("headers-one-hop.json"), "ctx", "legacy/sleep -> httpbin");
        assert_eq!(f.status, Status::Pass, "{f:?}");
        assert!(f.summary.contains("spiffe://cluster.local/ns/legacy/sa/sleep"));
        assert_eq!(f.data["elements"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn wrong_service_account_fails() {
        let mut p = probe("headers-one-hop.json");
        p.expected_source = Some(SpiffeId::new("cluster.local", "legacy", "default"));
        let f = check_xfcc(&p, "ctx", "t");
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("service account default"), "{}", f.summary);
    }

    #[test]
    fn wrong_trust_domain_fails() {
        let mut p = probe("headers-one-hop.json");
        p.trust_domain = Some(("east.local".into(), "ConfigMap istio-system/istio".into()));
        let f = check_xfcc(&p, "ctx", "t");
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("trust domain cluster.local"), "{}", f.summary);
    }

    #[test]
    fn two_hops_judge_the_last_element() {
        // The last hop's caller is frontend, not sleep: a proxy in between re-originated mTLS.
        let f = check_xfcc(&probe("headers-two-hops.json"), "ctx", "t");
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("frontend"), "{}", f.summary);
        let mut p = probe("headers-two-hops.json");
        p.expected_source = Some(SpiffeId::new("cluster.local", "frontend", "frontend"));
        assert_eq!(check_xfcc(&p, "ctx", "t").status, Status::Pass);
    }

    #[test]
    fn by_must_be_the_destination() {
        let mut p = probe("headers-one-hop.json");
        p.expected_by = Some(SpiffeId::new("cluster.local", "sample", "other"));
        let f = check_xfcc(&p, "ctx", "t");
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.starts_with("By is"), "{}", f.summary);
    }

    #[test]
    fn no_header_is_no_mtls() {
        let f = check_xfcc(&probe("headers-no-xfcc.json"), "ctx", "t");
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("no mTLS on that hop"));
        assert!(!f.remediation.is_empty());
    }

    #[test]
    fn unparseable_header_is_an_error_not_a_verdict() {
        let p = XfccProbe { header: Some("By=x;Subject=\"open".into()), ..Default::default() };
        assert_eq!(check_xfcc(&p, "", "t").status, Status::Error);
    }

    #[test]
    fn offline_without_expectations_passes_and_says_so() {
        let p = XfccProbe { header: header("headers-one-hop.json"), ..Default::default() };
        let f = check_xfcc(&p, "", "t");
        assert_eq!(f.status, Status::Pass);
        assert!(f.summary.contains("nothing to compare"));
    }
}
