//! The runbook's three istiod log signatures, matched on the message's structure rather than on the
//! runbook's regular expressions, because the real wording differs across Istio versions. Each variant
//! below cites the upstream format string it reproduces.
//!
//! Decisions (tested in tests/logs_signatures.rs and below):
//! - The level does not decide: the same event is logged at `info` (Go's http server error log, redirected
//!   into istio's default scope), `warn` (serverca before 1.16) or `error` (klog, `ads`, `security`). A
//!   `warn` line saying the API server refused a list is the same signature as an `error` line.
//! - The structure does decide: "bad certificate" only counts inside Go's `http: TLS handshake error from
//!   ADDR: REASON`; "cannot list resource" only inside the API server's `User "U" cannot VERB resource ...`
//!   forbidden message; an authentication failure only when it names at least one `Authenticator`.
//!   A line that merely mentions the words (an info message, a quoted runbook, a debug dump) is not a match.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::line::LogLine;

/// Which signature a line matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureKind {
    TlsBadCertificate,
    RbacForbidden,
    ServercaAuth,
}

impl SignatureKind {
    pub const ALL: [SignatureKind; 3] =
        [SignatureKind::TlsBadCertificate, SignatureKind::RbacForbidden, SignatureKind::ServercaAuth];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The runbook's own expression, kept for comparison in reports and benchmarks.
    pub fn runbook_regex(self) -> &'static str {
        match self {
            SignatureKind::TlsBadCertificate => "TLS handshake error.*bad certificate",
            SignatureKind::RbacForbidden => "error.*cannot list resource",
            SignatureKind::ServercaAuth => "serverca.*Authentication failed:.*JWT",
        }
    }
}

/// Literal anchors: every variant contains at least one of these, and ordinary istiod lines contain none,
/// so the scanner only looks at lines where one occurs.
pub const ANCHORS: &[(&str, Anchor)] = &[
    // Go net/http server.go `c.server.logf("http: TLS handshake error from %s: %v", ...)` (Go 1.x, all).
    ("TLS handshake error", Anchor::Tls),
    // k8s.io/apiserver responsewriters/errors.go `forbiddenMessage` + apimachinery errors.go `NewForbidden`
    // (`%s is forbidden: %v`, `forbidden: %v`); the runbook's "cannot list resource" is inside it.
    // The anchor starts inside the word: Teddy fingerprints an anchor's first bytes, and "for" begins half
    // of istiod's ordinary lines ("PUSH request for node", "for config"), "rbi" almost none.
    ("rbidden: User ", Anchor::Forbidden),
    // istio 1.6-1.15 security/pkg/server/ca/server.go `serverCaLog.Warnf("Authentication failed: %s")`
    // and `("Authentication failed for %v: %s")`.
    ("Authentication failed", Anchor::Auth),
    // istio 1.10-1.19 pilot/pkg/xds/auth{entication}.go and 1.20+ pkg/security/authentication.go
    // `Errorf("Failed to authenticate client from %s: %s", ...)`.
    ("Failed to authenticate client", Anchor::Auth),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Tls,
    Forbidden,
    Auth,
}

/// What a TLS handshake failure says about certificates (the alert names of Go's crypto/tls alert.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsReason {
    /// `remote error: tls: bad certificate`: the peer (a Go client like kube-apiserver calling the injection
    /// webhook) rejected istiod's certificate; Go clients send this alert for any verification failure.
    BadCertificate,
    /// `remote error: tls: unknown certificate authority`: a non-Go peer (Envoy, OpenSSL) did not trust it.
    UnknownAuthority,
    /// `remote error: tls: expired certificate`.
    Expired,
    /// `remote error: tls: unknown certificate` (certificate_unknown).
    CertificateUnknown,
    /// `tls: failed to verify certificate: ...` (Go 1.20+ wording of a local verification failure).
    VerifyFailed,
}

/// A handshake error that is not about certificates (EOF from readiness probes, resets, plain HTTP on the
/// TLS port). Counted for context, never a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherHandshake {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsMatch {
    /// `10.0.0.1:12345` as logged.
    pub remote: String,
    pub reason: TlsReason,
    /// The error text after the address.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ForbiddenMatch {
    /// `system:serviceaccount:istio-system:istiod`.
    pub user: String,
    pub verb: String,
    /// `customresourcedefinitions` (with `/subresource` when there is one); empty for a non-resource path.
    pub resource: String,
    /// `apiextensions.k8s.io`; empty for the core group.
    pub api_group: String,
    /// `None` at the cluster scope.
    pub namespace: Option<String>,
    /// For non-resource requests (`cannot get path "/version"`).
    pub path: Option<String>,
    /// The authorizer's extra reason after the message, when one was given.
    pub reason: Option<String>,
    /// What client-go was doing: `*v1.CustomResourceDefinition` from `failed to list *v1.X`.
    pub watched_type: Option<String>,
}

impl ForbiddenMatch {
    pub fn service_account(&self) -> Option<(&str, &str)> {
        let rest = self.user.strip_prefix("system:serviceaccount:")?;
        rest.split_once(':')
    }

    /// `resource "customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope`.
    pub fn describe(&self) -> String {
        let what = match &self.path {
            Some(p) => format!("path {p:?}"),
            None => format!(
                "resource {:?} in API group {:?}{}",
                self.resource,
                self.api_group,
                match &self.namespace {
                    Some(ns) => format!(" in the namespace {ns:?}"),
                    None => " at the cluster scope".into(),
                }
            ),
        };
        format!("{} cannot {} {}", self.user, self.verb, what)
    }
}

/// One authenticator's complaint inside an authentication failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthenticatorError {
    /// `ClientCertAuthenticator`, `KubeJWTAuthenticator`, `IDTokenAuthenticator`, `XfccAuthenticator`.
    pub authenticator: String,
    pub error: String,
}

/// What the JWT error text tells about the token, when it tells anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JwtHint {
    /// TokenReview said the token is not authenticated: expired, wrong audience, or from another issuer.
    NotAuthenticated,
    /// The API server could not verify the signature (`invalid bearer token`, go-jose errors): a token from a
    /// different cluster or a rotated service-account signing key.
    BadSignature,
    Expired,
    Audience,
    Issuer,
    /// No token at all in the request.
    NoToken,
    /// The client claims a cluster istiod has no remote secret for (multi-cluster).
    UnknownCluster,
    /// istiod may not create TokenReviews: its own RBAC is broken.
    TokenReviewForbidden,
    /// The token is valid but not a pod service-account token.
    NotServiceAccount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthMatch {
    /// `ca` (serverca scope, 1.6-1.15), `xds` (ads scope, 1.10-1.19), `ca-or-xds` (security scope, 1.20+,
    /// one code path for both).
    pub path: &'static str,
    /// The client's `ip:port`, when the version logs it.
    pub client: Option<String>,
    pub errors: Vec<AuthenticatorError>,
    pub hints: Vec<JwtHint>,
    /// `Kubernetes` from `failed to validate the JWT from cluster "Kubernetes"`.
    pub cluster: Option<String>,
    /// Whether the runbook's `serverca.*Authentication failed:.*JWT` would have found this line.
    pub runbook_regex_matches: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    Tls(TlsMatch),
    OtherHandshake(OtherHandshake),
    Forbidden(ForbiddenMatch),
    Auth(AuthMatch),
}

impl Classified {
    pub fn kind(&self) -> Option<SignatureKind> {
        match self {
            Classified::Tls(_) => Some(SignatureKind::TlsBadCertificate),
            Classified::Forbidden(_) => Some(SignatureKind::RbacForbidden),
            Classified::Auth(_) => Some(SignatureKind::ServercaAuth),
            Classified::OtherHandshake(_) => None,
        }
    }
}

/// Classify a parsed line. `None` when it is none of the signatures (near misses included).
pub fn classify(line: &LogLine<'_>) -> Option<Classified> {
    let msg: &str = &line.message;
    if let Some(c) = classify_tls(msg) {
        return Some(c);
    }
    if let Some(f) = classify_forbidden(msg) {
        return Some(Classified::Forbidden(f));
    }
    classify_auth(msg, line.scope.as_deref()).map(Classified::Auth)
}

fn classify_tls(msg: &str) -> Option<Classified> {
    const HEAD: &str = "http: TLS handshake error from ";
    let start = msg.find(HEAD)? + HEAD.len();
    let rest = msg[start..].split('\t').next().unwrap_or("");
    // The address is `ip:port` or `[v6]:port`; the reason follows after ": ".
    let (remote, detail) = rest.split_once(": ")?;
    if remote.is_empty() || remote.contains(' ') {
        return None;
    }
    let detail = detail.trim();
    let reason = if detail.contains("tls: bad certificate") {
        TlsReason::BadCertificate
    } else if detail.contains("tls: unknown certificate authority") {
        TlsReason::UnknownAuthority
    } else if detail.contains("tls: expired certificate") {
        TlsReason::Expired
    } else if detail.contains("tls: unknown certificate") {
        TlsReason::CertificateUnknown
    } else if detail.contains("tls: failed to verify certificate") {
        TlsReason::VerifyFailed
    } else {
        return Some(Classified::OtherHandshake(OtherHandshake { reason: normalize_other(detail) }));
    };
    Some(Classified::Tls(TlsMatch { remote: remote.to_owned(), reason, detail: detail.to_owned() }))
}

/// Group non-certificate handshake errors by kind, not by the addresses inside them.
fn normalize_other(detail: &str) -> String {
    for k in [
        "EOF",
        "connection reset by peer",
        "client sent an HTTP request to an HTTPS server",
        "first record does not look like a TLS handshake",
        "i/o timeout",
        "no application protocol",
        "unsupported versions",
        "handshake failure",
    ] {
        if detail.contains(k) {
            return k.to_owned();
        }
    }
    detail.chars().take(80).collect()
}

static FORBIDDEN: LazyLock<Regex> = LazyLock::new(|| {
    // k8s.io/apiserver pkg/endpoints/handlers/responsewriters/errors.go forbiddenMessage (1.11 .. 1.37):
    //   User %q cannot %s resource %q in API group %q in the namespace %q
    //   User %q cannot %s resource %q in API group %q at the cluster scope
    //   User %q cannot %s path %q
    // Quotes are Go %q; in JSON lines they arrive already unescaped by the JSON decoder.
    Regex::new(
        r#"User "((?:[^"\\]|\\.)*)" cannot (\S+) (?:resource "((?:[^"\\]|\\.)*)"(?: in API group "((?:[^"\\]|\\.)*)")?(?: in the namespace "((?:[^"\\]|\\.)*)"| at the cluster scope)?|path "((?:[^"\\]|\\.)*)")(?::\s*(.*))?"#,
    )
    .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

static WATCHED_TYPE: LazyLock<Regex> = LazyLock::new(|| {
    // client-go tools/cache/reflector.go: "failed to list %v: %w" / "Failed to watch %v: ..." where %v is
    // the type description, `*v1.CustomResourceDefinition` or `apiextensions.k8s.io/v1, Resource=...`.
    Regex::new(r"(?i)(?:failed to list|failed to watch) (\*[A-Za-z0-9_.]+)")
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

fn classify_forbidden(msg: &str) -> Option<ForbiddenMatch> {
    if !msg.contains(" cannot ") {
        return None;
    }
    let c = FORBIDDEN.captures(msg)?;
    let get = |i: usize| c.get(i).map(|m| m.as_str().to_owned());
    let reason = get(7)
        .map(|r| r.split('\t').next().unwrap_or("").trim().to_owned())
        // client-go v0.31+ `HandleErrorWithContext` appends its own message (": Failed to watch") after the
        // error, through istio's logr adapter (`"%v: %s", err, msg`): that is not the authorizer's reason.
        .filter(|r| !r.is_empty() && !r.starts_with("Failed to watch"));
    Some(ForbiddenMatch {
        user: get(1).unwrap_or_default(),
        verb: get(2).unwrap_or_default(),
        resource: get(3).unwrap_or_default(),
        api_group: get(4).unwrap_or_default(),
        namespace: get(5),
        path: get(6),
        reason,
        watched_type: WATCHED_TYPE.captures(msg).and_then(|w| w.get(1)).map(|m| m.as_str().to_owned()),
    })
}

static AUTHENTICATOR: LazyLock<Regex> = LazyLock::new(|| {
    // 1.6-1.15 serverca: "Authenticator %s at index %d got error: %v. " (concatenated);
    // 1.10+ xds/security: "Authenticator %s: %v" joined with "; ".
    Regex::new(r"Authenticator ([A-Za-z0-9]*Authenticator)(?: at index (\d+) got error)?: ")
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

static CLUSTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:from cluster "([^"]*)"|could not get cluster (\S+?)'s kube client|claims to be in cluster "([^"]*)")"#,
    )
    .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

fn classify_auth(msg: &str, scope: Option<&str>) -> Option<AuthMatch> {
    let (head_end, client, path) = if let Some(i) = msg.find("Failed to authenticate client from ") {
        let rest = &msg[i + "Failed to authenticate client from ".len()..];
        let (addr, _) = rest.split_once(": ")?;
        let path = match scope {
            Some("ads") => "xds",
            Some("security") => "ca-or-xds",
            _ => "ca-or-xds",
        };
        (i, Some(addr.to_owned()), path)
    } else if let Some(i) = msg.find("Authentication failed for ") {
        let rest = &msg[i + "Authentication failed for ".len()..];
        let (addr, _) = rest.split_once(": ")?;
        (i, Some(addr.to_owned()), "ca")
    } else if let Some(i) = msg.find("Authentication failed: ") {
        (i, None, "ca")
    } else {
        return None;
    };
    let body = &msg[head_end..];
    let body = body.split('\t').next().unwrap_or(body);
    let heads: Vec<_> = AUTHENTICATOR.captures_iter(body).collect();
    if heads.is_empty() {
        return None;
    }
    let mut errors = Vec::new();
    for (n, cap) in heads.iter().enumerate() {
        let (Some(all), Some(name)) = (cap.get(0), cap.get(1)) else {
            continue;
        };
        let end = heads.get(n + 1).and_then(|c| c.get(0)).map_or(body.len(), |m| m.start());
        let text = body[all.end()..end].trim_end().trim_end_matches([';', '.']).trim_end();
        errors.push(AuthenticatorError { authenticator: name.as_str().to_owned(), error: text.to_owned() });
    }
    let mut hints = Vec::new();
    let mut cluster = None;
    for e in errors.iter().filter(|e| !e.authenticator.starts_with("ClientCert")) {
        let t = e.error.to_ascii_lowercase();
        let mut add = |h| {
            if !hints.contains(&h) {
                hints.push(h)
            }
        };
        if t.contains("token is not authenticated") {
            add(JwtHint::NotAuthenticated);
        }
        let expired = t.contains("expired");
        let audience = t.contains("audience");
        let issuer = t.contains("issuer") || t.contains("issued by a different provider");
        // The API server's token authenticators answer `[invalid bearer token, REASON]`: the prefix only says a
        // bearer token was refused; a signature problem is meant only when no more specific reason follows.
        if t.contains("cryptographic primitive")
            || t.contains("signature")
            || (t.contains("invalid bearer token") && !(expired || audience || issuer))
        {
            add(JwtHint::BadSignature);
        }
        if expired {
            add(JwtHint::Expired);
        }
        if audience {
            add(JwtHint::Audience);
        }
        if issuer {
            add(JwtHint::Issuer);
        }
        if t.contains("no bearer token") || t.contains("no http authorization header") {
            add(JwtHint::NoToken);
        }
        if t.contains("'s kube client") || t.contains("claims to be in cluster") {
            add(JwtHint::UnknownCluster);
        }
        if t.contains("tokenreviews") && t.contains("forbidden") {
            add(JwtHint::TokenReviewForbidden);
        }
        if t.contains("not a service account") {
            add(JwtHint::NotServiceAccount);
        }
        if cluster.is_none()
            && let Some(c) = CLUSTER.captures(&e.error)
        {
            cluster = (1..=3).find_map(|i| c.get(i)).map(|m| m.as_str().to_owned());
        }
    }
    hints.sort();
    let runbook_regex_matches = {
        let full = msg;
        match (full.find("serverca"), full.find("Authentication failed:")) {
            (Some(s), Some(a)) if s < a => full[a..].contains("JWT"),
            _ => scope == Some("serverca") && msg.contains("Authentication failed:") && msg.contains("JWT"),
        }
    };
    Some(AuthMatch { path, client, errors, hints, cluster, runbook_regex_matches })
}

#[cfg(test)]
mod tests {
    use super::super::line::parse_line;
    use super::*;

    fn class(raw: &str) -> Option<Classified> {
        classify(&parse_line(raw.as_bytes()))
    }

    #[test]
    fn forbidden_fields() {
        let Some(Classified::Forbidden(f)) = class(
            "2024-03-01T10:00:00.000000Z\terror\tklog\tk8s.io/client-go/tools/cache/reflector.go:229: failed to list *v1.CustomResourceDefinition: customresourcedefinitions.apiextensions.k8s.io is forbidden: User \"system:serviceaccount:istio-system:istiod\" cannot list resource \"customresourcedefinitions\" in API group \"apiextensions.k8s.io\" at the cluster scope",
        ) else {
            panic!("no match")
        };
        assert_eq!(f.user, "system:serviceaccount:istio-system:istiod");
        assert_eq!(f.verb, "list");
        assert_eq!(f.resource, "customresourcedefinitions");
        assert_eq!(f.api_group, "apiextensions.k8s.io");
        assert_eq!(f.namespace, None);
        assert_eq!(f.watched_type.as_deref(), Some("*v1.CustomResourceDefinition"));
        assert_eq!(f.service_account(), Some(("istio-system", "istiod")));
    }

    #[test]
    fn jwt_hints_name_the_specific_reason_behind_invalid_bearer_token() {
        let hints = |raw: &str| match class(raw) {
            Some(Classified::Auth(a)) => a.hints,
            other => panic!("no auth match: {other:?}"),
        };
        let pre = "2024-05-01T10:00:04.100008Z\terror\tsecurity\tFailed to authenticate client from 10.0.0.7:47380: Authenticator ClientCertAuthenticator: no client certificate is presented; Authenticator KubeJWTAuthenticator: failed to validate the JWT from cluster \"Kubernetes\": ";
        assert_eq!(
            hints(&format!(
                "{pre}the service account authentication returns an error: [invalid bearer token, service account token has expired]"
            )),
            vec![JwtHint::Expired]
        );
        assert_eq!(
            hints(&format!(
                "{pre}the service account authentication returns an error: [invalid bearer token, token audiences [\"x\"] is invalid for the target audiences [\"istio-ca\"]]"
            )),
            vec![JwtHint::Audience]
        );
        assert_eq!(
            hints(&format!("{pre}oidc: id token issued by a different provider, expected \"a\" got \"b\"")),
            vec![JwtHint::Issuer]
        );
        // Near miss: the prefix alone is a refused token whose reason is unknown, as before.
        assert_eq!(
            hints(&format!("{pre}the service account authentication returns an error: [invalid bearer token]")),
            vec![JwtHint::BadSignature]
        );
    }

    #[test]
    fn near_misses() {
        assert_eq!(class("2024-03-01T10:00:00.000000Z\tinfo\tads\tpush: bad certificate list refreshed"), None);
        assert_eq!(class("2024-03-01T10:00:00.000000Z\terror\tkube\tcannot list resource without a client"), None);
        assert_eq!(class("2024-03-01T10:00:00.000000Z\twarn\tserverca\tAuthentication failed: retry later"), None);
    }
}
