//! The istiod log scanner on the fixtures of tests/fixtures/logs (one file per Istio version and format,
//! reproduced from upstream format strings: see that folder's README), with the counts, fields and verdicts
//! each must give, near misses that must not match, and garbage that must not panic.

use std::path::PathBuf;

use asm_core::checks::logs::{ContextScan, MeshFacts, SourceInfo, judge};
use asm_core::model::{CheckId, Status};
use asm_core::parse::istiod_log::{Anchors, LineBuffer, Scanner, SignatureKind, SourceStats, scan_bytes};

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/logs").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn scan(name: &str) -> SourceStats {
    scan_bytes(&Anchors::new(), 0, &fixture(name))
}

fn counts(s: &SourceStats) -> [u64; 3] {
    SignatureKind::ALL.map(|k| s.get(k).count)
}

fn verdicts(name: &str) -> Vec<(CheckId, Status)> {
    let scan = ContextScan {
        context: String::new(),
        sources: vec![(SourceInfo { name: name.into(), ..Default::default() }, self::scan(name))],
    };
    judge(&scan, &MeshFacts::default()).into_iter().map(|f| (f.id, f.status)).collect()
}

#[test]
fn istio_1_9_serverca_at_index_and_raw_klog() {
    let s = scan("istiod-1.9-text.log");
    assert_eq!(counts(&s), [11, 1, 2]);
    let auth = s.get(SignatureKind::ServercaAuth);
    assert_eq!(auth.runbook_regex_hits, 2);
    assert_eq!(
        auth.authenticator_errors.get("KubeJWTAuthenticator").map(String::as_str),
        Some("failed to validate the JWT from cluster \"Kubernetes\": the token is not authenticated")
    );
    assert_eq!(auth.kinds.top(1)[0].0, "token not authenticated");
    // The raw klog line has no year: counted, but untimed.
    assert_eq!(s.get(SignatureKind::RbacForbidden).untimed, 1);
    assert_eq!(s.lines, 107);
    assert_eq!(
        verdicts("istiod-1.9-text.log"),
        vec![
            (CheckId::LogsSources, Status::Pass),
            // every 3 minutes until the end of the 30-minute window
            (CheckId::LogsTlsBadCertificate, Status::Fail),
            // only a year-less klog line: persistence unknown
            (CheckId::LogsRbacForbidden, Status::Warn),
            // minutes 1 and 2 of 30, then never again
            (CheckId::LogsServercaAuth, Status::Warn),
        ]
    );
}

#[test]
fn istio_1_12_klog_scope_info_and_error_lines_and_ads() {
    let s = scan("istiod-1.12-text.log");
    // 19 minutes × (info "failed to list" + error "Failed to watch") + 1 secret watch.
    assert_eq!(counts(&s), [1, 39, 2]);
    let r = s.get(SignatureKind::RbacForbidden);
    assert_eq!(r.levels.top(2), vec![("error".to_owned(), 20), ("info".to_owned(), 19)]);
    let secret = r.forbidden.iter().find(|(f, _)| f.resource == "secrets").map(|(f, _)| f.clone()).unwrap();
    assert_eq!(secret.verb, "watch");
    assert_eq!(secret.namespace.as_deref(), Some("istio-system"));
    assert_eq!(secret.api_group, "");
    let tls = s.get(SignatureKind::TlsBadCertificate);
    assert_eq!(tls.kinds.top(1)[0].0, "unknown certificate authority");
    let auth = s.get(SignatureKind::ServercaAuth);
    // "Authentication failed for ADDR" (serverca) is missed by the runbook's regex; so is the ads line.
    assert_eq!(auth.runbook_regex_hits, 0);
    assert_eq!(auth.peers.top(1), vec![("10.8.1.7".to_owned(), 2)]);
    assert!(auth.kinds.top(5).iter().any(|(k, _)| k == "token signature not verifiable"));
}

#[test]
fn istio_1_20_security_scope_and_default_scope_watch_errors() {
    let s = scan("istiod-1.20-text.log");
    assert_eq!(counts(&s), [6, 1, 21]);
    // EOF handshakes (debug) are context, not the signature.
    assert_eq!(s.other_handshake.top(1), vec![("EOF".to_owned(), 31)]);
    assert_eq!(
        verdicts("istiod-1.20-text.log"),
        vec![
            (CheckId::LogsSources, Status::Pass),
            // every 10 minutes, stopped 10 minutes before the end of the hour
            (CheckId::LogsTlsBadCertificate, Status::Warn),
            (CheckId::LogsRbacForbidden, Status::Warn),
            // every minute for the last 20 minutes
            (CheckId::LogsServercaAuth, Status::Fail),
        ]
    );
}

#[test]
fn istio_1_24_json_lines() {
    let s = scan("istiod-1.24-json.log");
    assert_eq!(counts(&s), [11, 11, 11]);
    let r = s.get(SignatureKind::RbacForbidden);
    let (f, _) = &r.forbidden[0];
    assert_eq!(f.user, "system:serviceaccount:istio-system:istiod");
    assert_eq!(f.resource, "customresourcedefinitions");
    assert_eq!(f.reason, None, "client-go's ': Failed to watch' suffix is not an authorizer reason");
    assert_eq!(r.first_time, asm_core::parse::istiod_log::parse_rfc3339("2024-03-01T10:00:00.000000Z"));
}

#[test]
fn istio_1_31_kubectl_timestamps_prefix() {
    let s = scan("istiod-1.31-timestamps.log");
    assert_eq!(counts(&s), [0, 6, 0]);
    let (f, _) = &s.get(SignatureKind::RbacForbidden).forbidden[0];
    assert_eq!(f.api_group, "certificates.k8s.io");
    assert_eq!(f.watched_type.as_deref(), Some("*v1.ClusterTrustBundle"));
}

#[test]
fn near_misses_do_not_match() {
    let s = scan("near-misses.log");
    assert_eq!(counts(&s), [0, 0, 0]);
    assert!(s.near_misses >= 5, "near misses seen: {}", s.near_misses);
    assert_eq!(verdicts("near-misses.log").into_iter().filter(|(_, st)| *st != Status::Pass).count(), 0);
}

#[test]
fn runbook_samples_match() {
    let s = scan("runbook-samples.log");
    assert_eq!(counts(&s), [0, 1, 1]);
    let (f, _) = &s.get(SignatureKind::RbacForbidden).forbidden[0];
    assert_eq!(f.user, "system:serviceaccount:istio-system:istiod-service-account");
    assert_eq!(f.service_account(), Some(("istio-system", "istiod-service-account")));
}

#[test]
fn block_boundaries_do_not_change_counts() {
    let data = fixture("istiod-1.20-text.log");
    let anchors = Anchors::new();
    for cap in [4096, 5000, 1 << 20] {
        let mut scanner = Scanner::new(&anchors, 0);
        let mut lb = LineBuffer::new(cap);
        for piece in data.chunks(333) {
            let mut rest = piece;
            while !rest.is_empty() {
                let spare = lb.spare();
                let n = spare.len().min(rest.len());
                spare[..n].copy_from_slice(&rest[..n]);
                lb.filled(n, &mut scanner);
                rest = &rest[n..];
            }
        }
        lb.finish(&mut scanner);
        let s = scanner.finish();
        assert_eq!(counts(&s), [6, 1, 21], "buffer {cap}");
        assert_eq!(s.lines, 242);
    }
}

#[test]
fn garbage_truncation_and_invalid_utf8_do_not_panic() {
    let anchors = Anchors::new();
    let good = fixture("istiod-1.12-text.log");
    // Every truncation point of a signature-dense region, plus invalid UTF-8 spliced into anchors.
    for cut in (0..good.len()).step_by(97) {
        let _ = scan_bytes(&anchors, 0, &good[..cut]);
    }
    let mut bad = b"\xff\xfe TLS handshake error from \xff: remote error: tls: bad certificate\n".to_vec();
    bad.extend_from_slice(b"{\"msg\": \"User \\\"x\" cannot list resource\n");
    bad.extend_from_slice(b"Authentication failed: Authenticator \xc3\x28 at index 9999999999999999999 got error: \n");
    bad.extend_from_slice(b"forbidden: User \"\" cannot");
    bad.extend(std::iter::repeat_n(b'A', 200_000));
    bad.extend_from_slice(b" TLS handshake error\n\n\n");
    let s = scan_bytes(&anchors, 0, &bad);
    assert_eq!(s.get(SignatureKind::TlsBadCertificate).count, 0, "no address: not a match");
}
