//! What `openssl s_client -showcerts` prints, read back into facts: whether it connected, the chain it was
//! shown (subjects, issuers and PEM blocks), the handshake's outcome (protocol, ALPN, verify code) and the
//! errors and TLS alerts on stderr. Istio's inbound listeners require a client certificate, so a probe
//! without one usually ends in an alert *after* the server's chain was shown: the chain is still usable.
//! A plain PEM bundle is accepted too, as a chain with no handshake around it.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SClientError {
    #[error("the input is empty")]
    Empty,
    #[error(
        "this is neither `openssl s_client` output nor a PEM bundle (no CONNECTED line, no openssl error line, no -----BEGIN CERTIFICATE-----)"
    )]
    Unrecognised,
}

/// One ` N s:... / i:...` entry of the `Certificate chain` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainEntry {
    pub depth: usize,
    pub subject: String,
    pub issuer: String,
}

/// A `verify error:num=N:message` line, with the depth line before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyError {
    pub depth: Option<usize>,
    pub code: i32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SClientOutput {
    /// `CONNECTED(...)` was printed: the TCP connection was made.
    pub connected: bool,
    /// The TCP connection failed (`connect:errno=111`, name resolution): the reason in openssl's words.
    pub connect_error: Option<String>,
    pub chain: Vec<ChainEntry>,
    /// Every PEM certificate block, in the order printed (leaf first with -showcerts).
    pub pems: Vec<String>,
    pub no_peer_certificate: bool,
    pub protocol: Option<String>,
    pub cipher: Option<String>,
    /// `ALPN protocol: istio`; `None` for `No ALPN negotiated`.
    pub alpn: Option<String>,
    pub verify_return: Option<(i32, String)>,
    pub verify_errors: Vec<VerifyError>,
    /// TLS alerts named in openssl's error lines (`tlsv13 alert certificate required`).
    pub alerts: Vec<String>,
    /// Other reasons from openssl's error lines (`wrong version number`, `unexpected eof while reading`).
    pub errors: Vec<String>,
    /// Only PEM blocks, no s_client framing: a bundle, not a probe.
    pub is_bare_bundle: bool,
}

impl SClientOutput {
    /// The one-line story of the handshake, for evidence.
    pub fn handshake_story(&self) -> String {
        if let Some(e) = &self.connect_error {
            return format!("connection failed: {e}");
        }
        if self.is_bare_bundle {
            return format!("PEM bundle with {} certificates", self.pems.len());
        }
        let mut parts = Vec::new();
        if self.no_peer_certificate {
            parts.push("no peer certificate available".to_owned());
        } else {
            parts.push(format!("{} certificates shown", self.pems.len()));
        }
        if let Some(p) = &self.protocol {
            parts.push(format!("{p}{}", self.cipher.as_deref().map(|c| format!(" {c}")).unwrap_or_default()));
        }
        parts.push(match &self.alpn {
            Some(a) => format!("ALPN {a}"),
            None => "no ALPN negotiated".into(),
        });
        if let Some((code, msg)) = &self.verify_return {
            parts.push(format!("verify return code {code} ({msg})"));
        }
        for a in &self.alerts {
            parts.push(format!("then {a}"));
        }
        parts.join("; ")
    }
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// `40D7B0768D7F0000:error:0A000126:SSL routines:ssl3_read_n:unexpected eof while reading:../ssl/...` (openssl 3)
/// and `140...:error:14094410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:...` (1.1): the reason
/// is the sixth field.
fn openssl_error_reason(line: &str) -> Option<String> {
    let mut fields = line.split(':');
    let first = fields.next()?;
    if first.is_empty() || !first.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    if fields.next()? != "error" {
        return None;
    }
    let fields: Vec<&str> = fields.collect();
    let reason = fields.get(3)?.trim();
    (!reason.is_empty()).then(|| reason.to_owned())
}

pub fn parse_sclient(text: &str) -> Result<SClientOutput, SClientError> {
    if text.trim().is_empty() {
        return Err(SClientError::Empty);
    }
    let mut out = SClientOutput::default();
    let mut in_chain = false;
    let mut pem: Option<String> = None;
    let mut last_depth: Option<usize> = None;
    let mut framing = false;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        let t = line.trim();
        if let Some(buf) = pem.as_mut() {
            buf.push_str(t);
            buf.push('\n');
            if t == END {
                out.pems.extend(pem.take());
            }
            continue;
        }
        if t == BEGIN {
            pem = Some(format!("{BEGIN}\n"));
            continue;
        }
        if t.starts_with("CONNECTED(") {
            out.connected = true;
            framing = true;
        } else if t == "Certificate chain" {
            in_chain = true;
            framing = true;
        } else if t == "---" {
            in_chain = false;
        } else if in_chain {
            // ` 0 s:SUBJECT` opens an entry; `   i:ISSUER` completes it (a:, v: lines carry nothing we need
            // that the PEM does not).
            if let Some((depth, subject)) = t.split_once(" s:").or_else(|| t.split_once(" s: ")) {
                if let Ok(depth) = depth.trim().parse() {
                    out.chain.push(ChainEntry { depth, subject: subject.trim().to_owned(), issuer: String::new() });
                }
            } else if let Some(issuer) = t.strip_prefix("i:")
                && let Some(e) = out.chain.last_mut()
            {
                e.issuer = issuer.trim().to_owned();
            }
        } else if t == "no peer certificate available" {
            out.no_peer_certificate = true;
            framing = true;
        } else if let Some(rest) = t.strip_prefix("ALPN protocol:") {
            out.alpn = Some(rest.trim().to_owned());
        } else if t.starts_with("New, ") {
            // `New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384` / `New, (NONE), Cipher is (NONE)`
            let mut parts = t.trim_start_matches("New, ").splitn(2, ", Cipher is ");
            let proto = parts.next().unwrap_or_default().trim();
            let cipher = parts.next().unwrap_or_default().trim();
            if proto != "(NONE)" && !proto.is_empty() {
                out.protocol = Some(proto.to_owned());
            }
            if cipher != "(NONE)" && !cipher.is_empty() {
                out.cipher = Some(cipher.to_owned());
            }
        } else if let Some(rest) = t.strip_prefix("Verify return code:") {
            let rest = rest.trim();
            let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Ok(code) = code.parse() {
                out.verify_return = Some((code, msg.trim_matches(['(', ')']).to_owned()));
            }
        } else if let Some(rest) = t.strip_prefix("depth=") {
            last_depth = rest.split_whitespace().next().and_then(|d| d.parse().ok());
        } else if let Some(rest) = t.strip_prefix("verify error:num=")
            && let Some((code, msg)) = rest.split_once(':')
            && let Ok(code) = code.parse()
        {
            let e = VerifyError { depth: last_depth, code, message: msg.trim().to_owned() };
            if !out.verify_errors.contains(&e) {
                out.verify_errors.push(e);
            }
        } else if let Some(rest) = t.strip_prefix("connect:errno=") {
            out.connect_error = Some(match rest.trim() {
                "111" => "connection refused (errno 111)".to_owned(),
                "110" => "connection timed out (errno 110)".to_owned(),
                "113" => "no route to host (errno 113)".to_owned(),
                other => format!("errno {other}"),
            });
            framing = true;
        } else if let Some(reason) = openssl_error_reason(t) {
            framing = true;
            let lower = reason.to_ascii_lowercase();
            if lower.contains("alert") {
                if !out.alerts.contains(&reason) {
                    out.alerts.push(reason);
                }
            } else if lower.contains("connection refused")
                || lower.contains("getaddrinfo")
                || lower.contains("name or service not known")
                || lower.contains("no address associated")
            {
                let detail = t.split(':').skip(5).take(2).collect::<Vec<_>>().join(":");
                if out.connect_error.is_none() || lower.contains("getaddrinfo") {
                    out.connect_error = Some(if detail.is_empty() { reason } else { detail });
                }
            } else if !lower.contains("connect error") && !out.errors.contains(&reason) {
                out.errors.push(reason);
            }
        }
    }
    if !framing && !out.connected {
        if out.pems.is_empty() {
            return Err(SClientError::Unrecognised);
        }
        out.is_bare_bundle = true;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        crate::test_support::fixture("certs", name)
    }

    #[test]
    fn istiod_chain_then_certificate_required_alert() {
        let o = parse_sclient(&fixture("sclient-istiod.txt")).unwrap();
        assert!(o.connected);
        assert_eq!(o.pems.len(), 2);
        assert_eq!(o.chain.len(), 2);
        assert_eq!(o.chain[0].depth, 0);
        assert_eq!(o.chain[0].subject, "");
        assert_eq!(o.chain[0].issuer, "O = cluster.local");
        assert_eq!(o.chain[1].subject, "O = cluster.local");
        assert_eq!(o.alpn.as_deref(), Some("istio"));
        assert_eq!(o.protocol.as_deref(), Some("TLSv1.3"));
        assert_eq!(o.verify_return, Some((19, "self-signed certificate in certificate chain".into())));
        assert_eq!(o.alerts, vec!["tlsv13 alert certificate required"]);
        assert!(!o.no_peer_certificate && !o.is_bare_bundle);
        assert_eq!(o.verify_errors[0].depth, Some(1));
        assert_eq!(o.verify_errors[0].code, 19);
    }

    #[test]
    fn meshca_has_three_and_broken_link_verify_errors() {
        let o = parse_sclient(&fixture("sclient-meshca.txt")).unwrap();
        assert_eq!(o.pems.len(), 3);
        assert!(o.chain[2].subject.contains("istio_v1_cloud_workload_root-signer-"));
        let b = parse_sclient(&fixture("sclient-broken-link.txt")).unwrap();
        assert_eq!(b.pems.len(), 3);
        assert_eq!(b.verify_return.as_ref().map(|v| v.0), Some(21));
        assert!(b.verify_errors.iter().any(|e| e.code == 20));
    }

    #[test]
    fn completed_mtls_handshake_has_no_alert() {
        let o = parse_sclient(&fixture("sclient-istiod-mtls.txt")).unwrap();
        assert_eq!(o.verify_return, Some((0, "ok".into())));
        assert!(o.alerts.is_empty());
        assert!(o.verify_errors.is_empty());
    }

    #[test]
    fn tls12_handshake_failure_after_the_chain() {
        let o = parse_sclient(&fixture("sclient-alert-handshake-failure.txt")).unwrap();
        assert_eq!(o.pems.len(), 2);
        assert_eq!(o.protocol.as_deref(), Some("TLSv1.2"));
        assert_eq!(o.alerts, vec!["sslv3 alert handshake failure"]);
        let r = parse_sclient(&fixture("sclient-alert-certificate-required.txt")).unwrap();
        assert_eq!(r.alerts, vec!["tlsv13 alert certificate required"]);
    }

    #[test]
    fn nothing_came_back() {
        let p = parse_sclient(&fixture("sclient-plaintext.txt")).unwrap();
        assert!(p.connected && p.no_peer_certificate && p.pems.is_empty());
        assert_eq!(p.alpn, None);
        assert_eq!(p.errors, vec!["wrong version number"]);
        let r = parse_sclient(&fixture("sclient-refused.txt")).unwrap();
        assert!(!r.connected);
        assert!(r.connect_error.as_deref().unwrap_or("").contains("refused"), "{r:?}");
        assert!(r.pems.is_empty());
    }

    #[test]
    fn pem_bundle_and_garbage() {
        let b = parse_sclient(&fixture("bundle-meshca.pem")).unwrap();
        assert!(b.is_bare_bundle);
        assert_eq!(b.pems.len(), 3);
        assert_eq!(parse_sclient(" \n"), Err(SClientError::Empty));
        assert_eq!(parse_sclient("hello\nworld\n"), Err(SClientError::Unrecognised));
    }

    #[test]
    fn truncations_of_every_fixture_never_panic() {
        for name in [
            "sclient-istiod.txt",
            "sclient-meshca.txt",
            "sclient-broken-link.txt",
            "sclient-plaintext.txt",
            "sclient-refused.txt",
            "sclient-alert-handshake-failure.txt",
            "bundle-meshca.pem",
        ] {
            let text = fixture(name);
            for cut in (0..text.len()).step_by(7) {
                let _ = parse_sclient(&text[..cut]);
                let _ = parse_sclient(&text[cut..]);
            }
        }
    }
}
