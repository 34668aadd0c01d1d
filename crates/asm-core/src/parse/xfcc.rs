//! The X-Forwarded-Client-Cert header as Envoy writes it, and the httpbin `/headers` answer it arrives in.
//!
//! Format (Envoy's HTTP header documentation, "x-forwarded-client-cert"): elements separated by `,`, one per
//! hop, the newest last with APPEND_FORWARD; each element is `;`-separated `Key=value` pairs with keys By,
//! Hash, Cert, Chain, Subject, URI and DNS (case-insensitive, DNS may repeat); a value holding `,` `;` or `=`
//! is double-quoted, and `"` inside a value is escaped as `\"`. Subjects come from the TLS library in RFC 2253
//! form, where `,` `;` and `"` inside an attribute are themselves backslash-escaped, so backslashes are
//! kept inside quoted values and only `\"` is unescaped there.

use serde::Serialize;

/// Why text that should hold an XFCC header does not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XfccError {
    #[error("the X-Forwarded-Client-Cert value is empty")]
    Empty,
    #[error("unterminated double quote in the X-Forwarded-Client-Cert value (element {element})")]
    UnterminatedQuote { element: usize },
    #[error("X-Forwarded-Client-Cert element {element} has {pair:?}, which is not Key=value")]
    NotKeyValue { element: usize, pair: String },
    #[error("the /headers answer is not JSON: {0}")]
    NotJson(String),
    #[error("the /headers answer has no \"headers\" object")]
    NoHeadersObject,
    #[error(
        "no X-Forwarded-Client-Cert found: expected httpbin's /headers JSON, a `\"X-Forwarded-Client-Cert\": ...` line, or a raw By=...;URI=... value"
    )]
    Unrecognised,
}

/// One hop's element: what the proxy that terminated mTLS saw of its peer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct XfccElement {
    /// The SPIFFE id (URI SAN) of the proxy that added this element: the destination side of the hop.
    pub by: Option<String>,
    pub hash: Option<String>,
    pub cert: Option<String>,
    pub chain: Option<String>,
    pub subject: Option<String>,
    /// The peer's URI SAN: the caller's SPIFFE id.
    pub uri: Option<String>,
    pub dns: Vec<String>,
    /// Keys Envoy does not document, kept so nothing is silently dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<(String, String)>,
}

/// Split on `sep` outside double quotes, honouring backslash escapes everywhere.
fn split_outside_quotes(s: &str, sep: char, element: usize) -> Result<Vec<&str>, XfccError> {
    let mut parts = Vec::new();
    let (mut start, mut in_quotes, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c == sep && !in_quotes => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if in_quotes {
        return Err(XfccError::UnterminatedQuote { element });
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// A value as the operator should read it: quotes removed, `\"` unescaped; outside quotes `\,` `\;` `\=`
/// and `\"` unescaped too.
fn unquote(raw: &str) -> String {
    let raw = raw.trim();
    if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        return raw[1..raw.len() - 1].replace("\\\"", "\"");
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && matches!(n, ',' | ';' | '=' | '"' | '\\')
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// Parse a whole header value into its elements, oldest hop first.
pub fn parse_xfcc(value: &str) -> Result<Vec<XfccElement>, XfccError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(XfccError::Empty);
    }
    let mut elements = Vec::new();
    for (n, raw_element) in split_outside_quotes(value, ',', 1)?.into_iter().enumerate() {
        let element = n + 1;
        if raw_element.trim().is_empty() {
            continue;
        }
        let mut e = XfccElement::default();
        for pair in split_outside_quotes(raw_element, ';', element)? {
            if pair.trim().is_empty() {
                continue;
            }
            let Some((key, val)) = pair.split_once('=') else {
                return Err(XfccError::NotKeyValue { element, pair: pair.trim().to_owned() });
            };
            let val = unquote(val);
            match key.trim().to_ascii_lowercase().as_str() {
                "by" => e.by = Some(val),
                "hash" => e.hash = Some(val),
                "cert" => e.cert = Some(val),
                "chain" => e.chain = Some(val),
                "subject" => e.subject = Some(val),
                "uri" => e.uri = Some(val),
                "dns" => e.dns.push(val),
                _ => e.other.push((key.trim().to_owned(), val)),
            }
        }
        elements.push(e);
    }
    if elements.is_empty() {
        return Err(XfccError::Empty);
    }
    Ok(elements)
}

/// httpbin's `/headers` answer: `None` when it has no X-Forwarded-Client-Cert (the hop had no mTLS).
/// go-httpbin v2 sends each header as an array of values, the Python httpbin as a string; several values
/// are one header sent several times, which HTTP defines as the comma-joined list.
pub fn xfcc_from_headers_json(body: &str) -> Result<Option<String>, XfccError> {
    let v: serde_json::Value = serde_json::from_str(body.trim()).map_err(|e| XfccError::NotJson(e.to_string()))?;
    let headers = v.get("headers").and_then(|h| h.as_object()).ok_or(XfccError::NoHeadersObject)?;
    let Some((_, value)) = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-client-cert")) else {
        return Ok(None);
    };
    let joined = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join(","),
        _ => return Ok(None),
    };
    Ok((!joined.trim().is_empty()).then_some(joined))
}

/// What a user may paste: the `/headers` JSON, the runbook's `grep X-Forwarded-Client-Cert` line, an HTTP
/// header line, or the bare value. `Ok(None)` only for JSON without the header.
pub fn xfcc_from_text(text: &str) -> Result<Option<String>, XfccError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(XfccError::Empty);
    }
    if t.starts_with('{') {
        return xfcc_from_headers_json(t);
    }
    for line in t.lines() {
        let l = line.trim();
        let lower = l.to_ascii_lowercase();
        let Some(pos) = lower.find("x-forwarded-client-cert") else {
            continue;
        };
        let rest = l[pos + "x-forwarded-client-cert".len()..].trim_start_matches('"').trim_start();
        let Some(rest) = rest.strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim().trim_end_matches(',').trim();
        // A JSON string (`"By=...\"...\""`) or array line: decode it as JSON to undo its escaping.
        if rest.starts_with('"') || rest.starts_with('[') {
            match serde_json::from_str::<serde_json::Value>(rest) {
                Ok(serde_json::Value::String(s)) => return Ok(Some(s)),
                Ok(serde_json::Value::Array(a)) => {
                    let joined: Vec<_> = a.iter().filter_map(|i| i.as_str()).collect();
                    return Ok(Some(joined.join(",")));
                }
                // The runbook's example line is cut mid-value; take what is there.
                _ => return Ok(Some(rest.trim_matches('"').replace("\\\"", "\""))),
            }
        }
        return Ok(Some(rest.to_owned()));
    }
    let lower = t.to_ascii_lowercase();
    if ["by=", "hash=", "uri=", "subject="].iter().any(|k| lower.starts_with(k)) {
        return Ok(Some(t.to_owned()));
    }
    Err(XfccError::Unrecognised)
}

/// A Istio workload identity, `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpiffeId {
    pub trust_domain: String,
    pub namespace: String,
    pub service_account: String,
}

impl SpiffeId {
    pub fn new(trust_domain: &str, namespace: &str, service_account: &str) -> Self {
        SpiffeId {
            trust_domain: trust_domain.into(),
            namespace: namespace.into(),
            service_account: service_account.into(),
        }
    }
}

impl std::fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "spiffe://{}/ns/{}/sa/{}", self.trust_domain, self.namespace, self.service_account)
    }
}

/// Parse an Istio SPIFFE id; `None` for anything else (another SPIFFE path shape, not a SPIFFE URI).
pub fn parse_spiffe(uri: &str) -> Option<SpiffeId> {
    let rest = uri.trim().strip_prefix("spiffe://")?;
    let (td, path) = rest.split_once('/')?;
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("ns"), Some(ns), Some("sa"), Some(sa), None) if !td.is_empty() && !ns.is_empty() && !sa.is_empty() => {
            Some(SpiffeId::new(td, ns, sa))
        }
        _ => None,
    }
}

/// The trust domain of any SPIFFE URI, even one without Istio's path shape.
pub fn spiffe_trust_domain(uri: &str) -> Option<&str> {
    let rest = uri.trim().strip_prefix("spiffe://")?;
    let td = rest.split('/').next()?;
    (!td.is_empty()).then_some(td)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        crate::test_support::fixture("certs", name)
    }

    #[test]
    fn one_hop_from_go_httpbin_arrays() {
        let v = xfcc_from_headers_json(&fixture("headers-one-hop.json")).unwrap().unwrap();
        let e = parse_xfcc(&v).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].by.as_deref(), Some("spiffe://cluster.local/ns/sample/sa/httpbin"));
        assert_eq!(e[0].uri.as_deref(), Some("spiffe://cluster.local/ns/legacy/sa/sleep"));
        assert_eq!(e[0].subject.as_deref(), Some("CN=sleep,O=cluster.local"));
        assert_eq!(e[0].dns, vec!["sleep.legacy.svc"]);
        assert_eq!(e[0].hash.as_ref().map(String::len), Some(64));
    }

    #[test]
    fn python_httpbin_strings_give_the_same_value() {
        let py = xfcc_from_headers_json(&fixture("headers-one-hop-python-httpbin.json")).unwrap().unwrap();
        let go = xfcc_from_headers_json(&fixture("headers-one-hop.json")).unwrap().unwrap();
        assert_eq!(parse_xfcc(&py).unwrap(), parse_xfcc(&go).unwrap());
    }

    #[test]
    fn two_hops_keep_order_and_escaped_subject() {
        let v = xfcc_from_headers_json(&fixture("headers-two-hops.json")).unwrap().unwrap();
        let e = parse_xfcc(&v).unwrap();
        assert_eq!(e.len(), 2, "{v}");
        assert_eq!(e[0].by.as_deref(), Some("spiffe://cluster.local/ns/frontend/sa/frontend"));
        assert_eq!(e[0].uri.as_deref(), Some("spiffe://cluster.local/ns/legacy/sa/sleep"));
        assert_eq!(e[1].by.as_deref(), Some("spiffe://cluster.local/ns/sample/sa/httpbin"));
        assert_eq!(e[1].uri.as_deref(), Some("spiffe://cluster.local/ns/frontend/sa/frontend"));
        // The RFC 2253 escapes of the subject survive; only the XFCC quoting is removed.
        assert_eq!(e[1].subject.as_deref(), Some(r#"CN=frontend,O=Example\, "Quoted"\; Inc"#));
        assert!(e[1].dns.is_empty());
    }

    #[test]
    fn sanitize_set_leaves_one_element() {
        let v = xfcc_from_headers_json(&fixture("headers-two-hops-sanitize-set.json")).unwrap().unwrap();
        let e = parse_xfcc(&v).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].uri.as_deref(), Some("spiffe://cluster.local/ns/frontend/sa/frontend"));
    }

    #[test]
    fn no_xfcc_is_none_not_an_error() {
        assert_eq!(xfcc_from_headers_json(&fixture("headers-no-xfcc.json")).unwrap(), None);
        assert_eq!(xfcc_from_text(&fixture("headers-no-xfcc.json")).unwrap(), None);
    }

    #[test]
    fn runbook_grep_line_and_raw_value() {
        // The line `grep X-Forwarded-Client-Cert` prints from python httpbin's JSON.
        let line = fixture("headers-one-hop-python-httpbin.json")
            .lines()
            .find(|l| l.contains("X-Forwarded-Client-Cert"))
            .unwrap()
            .to_owned();
        let v = xfcc_from_text(&line).unwrap().unwrap();
        assert!(v.starts_with("By=spiffe://cluster.local/ns/sample/sa/httpbin;Hash="));
        assert!(v.contains(r#"Subject="CN=sleep,O=cluster.local""#));
        let raw = xfcc_from_text(&v).unwrap().unwrap();
        assert_eq!(raw, v);
        let header = format!("x-forwarded-client-cert: {v}");
        assert_eq!(xfcc_from_text(&header).unwrap().unwrap(), v);
    }

    #[test]
    fn keys_are_case_insensitive_dns_repeats_cert_and_chain_kept() {
        let e = parse_xfcc(
            r#"by=spiffe://a/ns/x/sa/y;HASH=ab;cert="-----BEGIN%20CERTIFICATE-----";Chain="c";uri=spiffe://a/ns/p/sa/q;dns=one;DNS=two;Future=1"#,
        )
        .unwrap();
        assert_eq!(e[0].by.as_deref(), Some("spiffe://a/ns/x/sa/y"));
        assert_eq!(e[0].hash.as_deref(), Some("ab"));
        assert_eq!(e[0].cert.as_deref(), Some("-----BEGIN%20CERTIFICATE-----"));
        assert_eq!(e[0].chain.as_deref(), Some("c"));
        assert_eq!(e[0].dns, vec!["one", "two"]);
        assert_eq!(e[0].other, vec![("Future".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn escapes_outside_quotes_do_not_split() {
        let e = parse_xfcc(r"By=a\,b\;c;URI=spiffe://td/ns/n/sa/s").unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].by.as_deref(), Some("a,b;c"));
    }

    #[test]
    fn bad_values_are_errors() {
        assert_eq!(parse_xfcc("  "), Err(XfccError::Empty));
        assert!(matches!(parse_xfcc(r#"By=x;Subject="open"#), Err(XfccError::UnterminatedQuote { .. })));
        assert!(matches!(parse_xfcc("By=x;garbage"), Err(XfccError::NotKeyValue { element: 1, .. })));
        assert_eq!(xfcc_from_text("hello world"), Err(XfccError::Unrecognised));
        assert!(matches!(xfcc_from_text("{not json"), Err(XfccError::NotJson(_))));
        assert_eq!(xfcc_from_text(r#"{"args": {}}"#), Err(XfccError::NoHeadersObject));
    }

    #[test]
    fn spiffe_ids() {
        assert_eq!(
            parse_spiffe("spiffe://cluster.local/ns/legacy/sa/sleep"),
            Some(SpiffeId::new("cluster.local", "legacy", "sleep"))
        );
        assert_eq!(parse_spiffe("spiffe://cluster.local/ns/legacy/sa/"), None);
        assert_eq!(parse_spiffe("spiffe://cluster.local/workload/x"), None);
        assert_eq!(parse_spiffe("https://cluster.local/ns/a/sa/b"), None);
        assert_eq!(spiffe_trust_domain("spiffe://my-project.svc.id.goog/ns/a/sa/b"), Some("my-project.svc.id.goog"));
        assert_eq!(SpiffeId::new("td", "n", "s").to_string(), "spiffe://td/ns/n/sa/s");
    }

    #[test]
    fn truncations_of_every_fixture_never_panic() {
        for name in [
            "headers-one-hop.json",
            "headers-two-hops.json",
            "headers-two-hops-sanitize-set.json",
            "headers-no-xfcc.json",
            "headers-one-hop-python-httpbin.json",
        ] {
            let text = fixture(name);
            let value = xfcc_from_text(&text).ok().flatten().unwrap_or_default();
            for cut in 0..text.len() {
                if text.is_char_boundary(cut) {
                    let _ = xfcc_from_text(&text[..cut]);
                }
            }
            for cut in 0..value.len() {
                if value.is_char_boundary(cut) {
                    let _ = parse_xfcc(&value[..cut]);
                    let _ = parse_xfcc(&value[cut..]);
                }
            }
        }
    }
}
