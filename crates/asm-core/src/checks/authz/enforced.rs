//! "Authorization policies are not enforced": the runbook's probe from a source pod, read into one of the
//! outcomes an operator must tell apart — the proxy's denial (403 with body `RBAC: access denied`), the
//! application's own 403, an allowed request, and a connection the proxy terminated (non-HTTP traffic).
//!
//! The probe is `curl -sS -w '\n%{http_code}' -X METHOD URL`: the body and the status come back together on
//! stdout, the status on the last line.

use serde::Serialize;
use serde_json::json;

use crate::checks::tls::plaintext::{self, Inconclusive, PlaintextVerdict};
use crate::model::{ExecOutput, Status};
use crate::parse::curl::CurlError;

/// The body Envoy's RBAC filter sends with its 403.
pub const RBAC_DENIED_BODY: &str = "RBAC: access denied";

/// How Envoy's own local replies for upstream failures start (source/common/router/router.cc and
/// upstream_request.cc in envoyproxy/envoy word them so); an application's 503 says something else.
const ENVOY_UPSTREAM_FAILURE_BODIES: [&str; 4] = [
    "upstream connect error or disconnect/reset before headers",
    "no healthy upstream",
    "upstream request timeout",
    "no cluster match for URL",
];

/// The probe's argv, as run inside the source container.
pub fn probe_argv(method: &str, url: &str, timeout_secs: u64) -> Vec<String> {
    ["curl", "-sS", "-w", "\n%{http_code}", "--max-time", &timeout_secs.to_string(), "-X", method, url]
        .map(String::from)
        .into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum AuthzOutcome {
    /// 403 with Envoy's RBAC body: an AuthorizationPolicy denied it.
    ProxyDenied,
    /// 403 with another body: the application said no, the mesh let it through.
    ApplicationDenied {
        body: String,
    },
    /// Any other status: the request reached the application.
    Allowed {
        http_code: u16,
    },
    /// 502/503/504 with one of Envoy's own local-reply bodies: the proxy could not reach (or lost) the
    /// upstream, so the request never got to the application nor to a verdict one can read. Through a
    /// client sidecar this is also how a TCP-level RBAC denial at the destination surfaces
    /// (`reset reason: connection termination`), so it proves neither enforcement nor its absence.
    ProxyError {
        http_code: u16,
        body: String,
    },
    /// No HTTP answer, the connection closed or reset: how a denial of non-HTTP (TCP) traffic looks.
    ConnectionTerminated {
        curl: CurlError,
    },
    Inconclusive {
        reason: Inconclusive,
        detail: String,
    },
}

/// Split stdout into the body and the `-w` status on its last line.
pub fn split_body(stdout: &str) -> (&str, Option<u16>) {
    let trimmed = stdout.trim_end_matches(['\n', '\r']);
    let (body, code) = match trimmed.rfind('\n') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    let code = code.trim();
    let parsed = (code.len() == 3).then(|| code.parse::<u16>().ok()).flatten().filter(|c| *c != 0);
    (body, parsed)
}

pub fn judge(out: &ExecOutput) -> AuthzOutcome {
    let (body, code) = split_body(&out.stdout);
    if let Some(code) = code {
        return match code {
            403 if body.trim() == RBAC_DENIED_BODY => AuthzOutcome::ProxyDenied,
            403 => AuthzOutcome::ApplicationDenied { body: body.chars().take(200).collect() },
            502..=504 if ENVOY_UPSTREAM_FAILURE_BODIES.iter().any(|b| body.trim_start().starts_with(b)) => {
                AuthzOutcome::ProxyError { http_code: code, body: body.chars().take(200).collect() }
            }
            c => AuthzOutcome::Allowed { http_code: c },
        };
    }
    // No status: the same reading as the plain-text probe, where a reset or an empty reply is the signal.
    match plaintext::judge(out) {
        PlaintextVerdict::Rejected { curl } => AuthzOutcome::ConnectionTerminated { curl },
        PlaintextVerdict::Answered { http_code } => AuthzOutcome::Allowed { http_code },
        PlaintextVerdict::Inconclusive { reason, detail } => AuthzOutcome::Inconclusive { reason, detail },
    }
}

/// What the user expects the request to meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Deny,
    Allow,
}

/// Status and one-line summary for an outcome against an expectation.
pub fn verdict(outcome: &AuthzOutcome, expect: Option<Expect>) -> (Status, String) {
    use AuthzOutcome::*;
    match (outcome, expect) {
        (Inconclusive { detail, .. }, _) => (Status::Error, format!("probe inconclusive: {detail}")),
        (ProxyError { http_code, body }, _) => (
            Status::Error,
            format!(
                "the proxy answered HTTP {http_code} ({}): the request never reached the application, so this cannot tell whether policies are enforced",
                body.split(['.', '\n']).next().unwrap_or_default().chars().take(100).collect::<String>()
            ),
        ),
        (ProxyDenied, Some(Expect::Allow)) => {
            (Status::Fail, "denied by the proxy (403 RBAC: access denied) but expected to be allowed".into())
        }
        (ProxyDenied, _) => {
            (Status::Pass, "denied by the proxy (403 RBAC: access denied): authorization policies are enforced".into())
        }
        (ConnectionTerminated { curl }, Some(Expect::Allow)) => (
            Status::Fail,
            format!("connection terminated without an HTTP answer (curl {}) but expected to be allowed", curl.code),
        ),
        (ConnectionTerminated { curl }, _) => (
            Status::Pass,
            format!(
                "connection terminated without an HTTP answer (curl {}): how the proxy denies non-HTTP traffic",
                curl.code
            ),
        ),
        (ApplicationDenied { .. }, Some(Expect::Deny)) => {
            (Status::Fail, "403 from the application, not the proxy: no authorization policy denied it".into())
        }
        (ApplicationDenied { .. }, _) => (
            Status::Warn,
            "403 from the application itself (body is not \"RBAC: access denied\"): the mesh let the request through"
                .into(),
        ),
        (Allowed { http_code }, Some(Expect::Deny)) => (
            Status::Fail,
            format!(
                "allowed (HTTP {http_code}) but expected to be denied: authorization policies are not enforced for this request"
            ),
        ),
        (Allowed { http_code }, Some(Expect::Allow)) => {
            (Status::Pass, format!("allowed (HTTP {http_code}) as expected"))
        }
        (Allowed { http_code }, None) => {
            (Status::Warn, format!("allowed (HTTP {http_code}); pass --expect deny if a policy should deny it"))
        }
    }
}

/// A terminated connection is only an authorization denial when a policy could have denied it. When the
/// destination's policies are known and none applies, the reset came from elsewhere — typically a STRICT
/// destination refusing the plain text of a source without a sidecar — and calling it "enforced" would
/// send the operator away with a false pass.
pub fn reconsider_terminated(
    outcome: &AuthzOutcome,
    verdict: (Status, String),
    policies_apply: Option<bool>,
    source_has_sidecar: bool,
) -> (Status, String) {
    let AuthzOutcome::ConnectionTerminated { curl } = outcome else {
        return verdict;
    };
    let plain = if source_has_sidecar {
        String::new()
    } else {
        "; the source has no istio-proxy, so the request left in plain text and a STRICT destination refuses it: check mTLS with kubectl asm-tls verify".to_owned()
    };
    match policies_apply {
        Some(false) => (
            Status::Error,
            format!(
                "connection terminated without an HTTP answer (curl {}), but no AuthorizationPolicy applies at the destination: not an authorization denial{plain}",
                curl.code
            ),
        ),
        _ if !source_has_sidecar => (verdict.0, format!("{}{plain}", verdict.1)),
        _ => verdict,
    }
}

/// The `data` of an `authz.enforced` finding.
pub fn data(outcome: &AuthzOutcome, expect: Option<Expect>, out: &ExecOutput) -> serde_json::Value {
    json!({
        "outcome": outcome,
        "expect": expect,
        "probe": {"stdout": out.stdout, "stderr": out.stderr, "exit": out.exit},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExitReport;

    /// A probe saved by tests/fixtures/authz/capture.sh, with the exit status as the runtime would report it.
    fn probe(name: &str) -> ExecOutput {
        let dir = format!("{}/../../tests/fixtures/authz", env!("CARGO_MANIFEST_DIR"));
        let read = |ext: &str| std::fs::read_to_string(format!("{dir}/probe-{name}.{ext}")).unwrap_or_default();
        let code: i32 = read("exit").trim().parse().unwrap_or(-1);
        ExecOutput {
            stdout: read("stdout"),
            stderr: read("stderr"),
            exit: if code == 0 { ExitReport::Success } else { ExitReport::Code { code } },
        }
    }

    #[test]
    fn real_probes_are_told_apart() {
        assert_eq!(judge(&probe("proxy-denied")), AuthzOutcome::ProxyDenied);
        assert_eq!(judge(&probe("app-403")), AuthzOutcome::ApplicationDenied { body: String::new() });
        assert_eq!(judge(&probe("allowed")), AuthzOutcome::Allowed { http_code: 200 });
        assert!(matches!(
            judge(&probe("tcp-terminated")),
            AuthzOutcome::ConnectionTerminated { curl } if curl.code == 52
        ));
        assert!(matches!(
            judge(&probe("refused")),
            AuthzOutcome::Inconclusive { reason: Inconclusive::ConnectionRefused, .. }
        ));
    }

    #[test]
    fn near_misses_of_the_rbac_body_are_the_application() {
        for body in ["RBAC: access denied!", "rbac: access denied", "Forbidden", "{\"error\":\"RBAC: access denied\"}"]
        {
            let o = ExecOutput { stdout: format!("{body}\n403"), stderr: String::new(), exit: ExitReport::Success };
            assert!(matches!(judge(&o), AuthzOutcome::ApplicationDenied { .. }), "{body}");
        }
        let o =
            ExecOutput { stdout: "RBAC: access denied\n200".into(), stderr: String::new(), exit: ExitReport::Success };
        assert_eq!(judge(&o), AuthzOutcome::Allowed { http_code: 200 });
    }

    #[test]
    fn expectations_turn_outcomes_into_verdicts() {
        let allowed = judge(&probe("allowed"));
        assert_eq!(verdict(&allowed, Some(Expect::Deny)).0, Status::Fail);
        assert_eq!(verdict(&allowed, Some(Expect::Allow)).0, Status::Pass);
        assert_eq!(verdict(&allowed, None).0, Status::Warn);
        let denied = judge(&probe("proxy-denied"));
        assert_eq!(verdict(&denied, Some(Expect::Deny)).0, Status::Pass);
        assert_eq!(verdict(&denied, Some(Expect::Allow)).0, Status::Fail);
        let app = judge(&probe("app-403"));
        assert_eq!(verdict(&app, Some(Expect::Deny)).0, Status::Fail);
        let tcp = judge(&probe("tcp-terminated"));
        assert_eq!(verdict(&tcp, Some(Expect::Deny)).0, Status::Pass);
        let refused = judge(&probe("refused"));
        assert_eq!(verdict(&refused, Some(Expect::Deny)).0, Status::Error);
    }

    #[test]
    fn envoy_upstream_failures_are_not_allowed_requests() {
        // Real stdout of `kubectl asm-authz verify --from sleep.sample --to nolistener.sample:8000` on the
        // local mesh: Envoy 1.40 in sample/sleep's sidecar, nothing listening behind the Service.
        let envoy = ExecOutput {
            stdout: "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure\n503".into(),
            stderr: String::new(),
            exit: ExitReport::Success,
        };
        let o = judge(&envoy);
        assert!(matches!(o, AuthzOutcome::ProxyError { http_code: 503, .. }), "{o:?}");
        for expect in [None, Some(Expect::Deny), Some(Expect::Allow)] {
            let (status, summary) = verdict(&o, expect);
            assert_eq!(status, Status::Error);
            assert!(
                summary.contains("HTTP 503 (upstream connect error or disconnect/reset before headers)"),
                "{summary}"
            );
        }
        // Near misses: the application's own 503, and Envoy's wording on a 200.
        for stdout in ["Service Unavailable\n503", "upstream connect error or disconnect/reset before headers\n200"] {
            let o = ExecOutput { stdout: stdout.into(), stderr: String::new(), exit: ExitReport::Success };
            assert!(matches!(judge(&o), AuthzOutcome::Allowed { .. }), "{stdout}");
        }
    }

    #[test]
    fn a_reset_without_any_applicable_policy_is_not_enforcement() {
        let tcp = judge(&probe("tcp-terminated"));
        let v = || verdict(&tcp, Some(Expect::Deny));
        assert_eq!(reconsider_terminated(&tcp, v(), Some(false), true).0, Status::Error);
        let (s, summary) = reconsider_terminated(&tcp, v(), Some(false), false);
        assert_eq!(s, Status::Error);
        assert!(summary.contains("asm-tls verify"), "{summary}");
        assert_eq!(reconsider_terminated(&tcp, v(), Some(true), true), v());
        assert_eq!(reconsider_terminated(&tcp, v(), None, true), v());
        assert_eq!(reconsider_terminated(&tcp, v(), Some(true), false).0, Status::Pass);
        let denied = judge(&probe("proxy-denied"));
        let dv = verdict(&denied, Some(Expect::Deny));
        assert_eq!(reconsider_terminated(&denied, dv.clone(), Some(false), false), dv);
    }

    #[test]
    fn body_split_is_robust() {
        assert_eq!(split_body("a\nb\n403"), ("a\nb", Some(403)));
        assert_eq!(split_body("\n000"), ("", None));
        assert_eq!(split_body(""), ("", None));
        assert_eq!(split_body("403"), ("", Some(403)));
        assert_eq!(split_body("x\n99999"), ("x", None));
        assert_eq!(split_body("\u{0}\n\u{ffff}"), ("\u{0}", None));
    }
}
