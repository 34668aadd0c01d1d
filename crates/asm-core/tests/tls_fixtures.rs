//! The asm-tls judgements against output saved from real runs (tests/fixtures/tls, see its README): real curl
//! against a real Envoy in STRICT and PERMISSIVE mode, and real certificates for the caBundle cases.

use std::path::PathBuf;

use asm_core::checks::tls::plaintext::{Inconclusive, PlaintextVerdict, judge};
use asm_core::checks::tls::webhook::{InjectorWebhook, IstiodCa, check};
use asm_core::model::{ExecOutput, ExitReport, Status};
use asm_core::parse::x509::{parse_pem_bundle, summarize};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tls").join(name)
}

fn probe(case: &str) -> ExecOutput {
    let text = std::fs::read_to_string(fixture(&format!("probe-{case}.json"))).expect("fixture exists");
    let v: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let code = v["exit"].as_i64().expect("exit") as i32;
    let exit = if code == 0 { ExitReport::Success } else { ExitReport::Code { code } };
    ExecOutput { stdout: v["stdout"].as_str().unwrap().into(), stderr: v["stderr"].as_str().unwrap().into(), exit }
}

/// The same probe judged with the exit status as reported, lost, and misreported as 1 (runtimes that flatten
/// every failure): the verdict must not change.
fn judged_every_way(case: &str) -> Vec<PlaintextVerdict> {
    let out = probe(case);
    let lost = ExecOutput { exit: ExitReport::Unreported, ..out.clone() };
    let flattened = ExecOutput {
        exit: if out.exit == ExitReport::Success { ExitReport::Success } else { ExitReport::Code { code: 1 } },
        ..out.clone()
    };
    vec![judge(&out), judge(&lost), judge(&flattened)]
}

#[test]
fn strict_envoy_resets_plain_text() {
    for v in judged_every_way("strict-rejected") {
        match v {
            PlaintextVerdict::Rejected { curl } => {
                assert_eq!(curl.code, 56);
                assert_eq!(curl.message, "Recv failure: Connection reset by peer");
            }
            other => panic!("expected rejected, got {other:?}"),
        }
    }
}

#[test]
fn permissive_envoy_answers_plain_text() {
    for v in judged_every_way("permissive-answered") {
        assert_eq!(v, PlaintextVerdict::Answered { http_code: 200 });
    }
}

#[test]
fn inconclusive_outcomes_are_told_apart() {
    for (case, reason) in [
        ("refused", Inconclusive::ConnectionRefused),
        ("timeout", Inconclusive::Timeout),
        ("dns", Inconclusive::NameNotResolved),
        ("curl-missing", Inconclusive::CurlMissing),
    ] {
        for v in judged_every_way(case) {
            match v {
                PlaintextVerdict::Inconclusive { reason: r, .. } => assert_eq!(r, reason, "{case}"),
                other => panic!("{case}: expected inconclusive, got {other:?}"),
            }
        }
    }
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture exists")
}

fn webhook(bundle: Option<Vec<u8>>) -> InjectorWebhook {
    InjectorWebhook {
        configuration: "istio-sidecar-injector".into(),
        webhook: "rev.namespace.sidecar-injector.istio.io".into(),
        ca_bundle: bundle,
        endpoint: "service istio-system/istiod:443/inject".into(),
        revision: None,
        service: Some(("istio-system".into(), "istiod".into(), 443)),
    }
}

fn istiod_ca(with_serving: bool) -> IstiodCa {
    IstiodCa {
        roots_source: "ConfigMap istio-system/istio-ca-root-cert".into(),
        roots: parse_pem_bundle(&pem("ca-root.pem")).unwrap(),
        serving_chain: if with_serving { parse_pem_bundle(&pem("istiod-serving.pem")).unwrap() } else { vec![] },
        serving_source: "pod istio-system/istiod-1 port 15017".into(),
    }
}

/// A fixed "now": two days after the root was issued, so the verdicts do not drift with the calendar.
fn now() -> i64 {
    summarize(&parse_pem_bundle(&pem("ca-root.pem")).unwrap()[0]).not_before + 2 * 86_400
}

const MONTH: i64 = 30 * 86_400;

#[test]
fn valid_bundle_passes_against_live_serving_cert_and_published_root() {
    for with_serving in [true, false] {
        let f = check(&webhook(Some(pem("ca-root.pem"))), &istiod_ca(with_serving), now(), MONTH, "ctx");
        assert_eq!(f.status, Status::Pass, "{f:?}");
    }
}

#[test]
fn bad_bundles_fail_with_the_reason() {
    let cases: [(&str, Option<Vec<u8>>, &str); 5] = [
        ("empty", Some(Vec::new()), "caBundle is empty"),
        ("missing", None, "caBundle is empty"),
        ("garbage", Some(pem("ca-garbage.bin")), "no PEM certificate block"),
        ("expired", Some(pem("ca-expired.pem")), "expired"),
        ("unrelated", Some(pem("ca-unrelated.pem")), "does not contain the CA that signs istiod's serving certificate"),
    ];
    for (case, bundle, words) in cases {
        let f = check(&webhook(bundle), &istiod_ca(true), now(), MONTH, "ctx");
        assert_eq!(f.status, Status::Fail, "{case}: {f:?}");
        assert!(f.summary.contains(words), "{case}: {}", f.summary);
    }
    // Without the live serving cert, the published root is the reference.
    let f = check(&webhook(Some(pem("ca-unrelated.pem"))), &istiod_ca(false), now(), MONTH, "ctx");
    assert_eq!(f.status, Status::Fail);
    assert!(f.summary.contains("does not match istiod's CA root"), "{}", f.summary);
}

#[test]
fn bundle_that_expires_soon_warns() {
    let root = summarize(&parse_pem_bundle(&pem("ca-root.pem")).unwrap()[0]);
    let f = check(&webhook(Some(pem("ca-root.pem"))), &istiod_ca(true), root.not_after - 86_400, MONTH, "ctx");
    assert_eq!(f.status, Status::Warn, "{f:?}");
}

#[test]
fn nothing_to_compare_with_is_a_warning_not_a_pass() {
    let f = check(&webhook(Some(pem("ca-root.pem"))), &IstiodCa::default(), now(), MONTH, "ctx");
    assert_eq!(f.status, Status::Warn);
}
