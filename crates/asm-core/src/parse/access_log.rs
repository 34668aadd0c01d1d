//! istio-proxy access-log lines, in Istio's default TEXT format and in its JSON format, read into one record
//! shape so denials can be explained the same way whichever format a mesh uses.
//!
//! Both formats are Istio's own (istio.io/istio pilot/pkg/model/telemetry_logging.go: `EnvoyTextLogFormat`
//! and `EnvoyJSONLogFormatIstio`). A line that is not an access-log entry (Envoy's own log lines share the
//! container's stdout) is skipped, not an error; nothing here panics on input.

use serde::Serialize;
use serde_json::Value;

/// The authorization labels Cloud Logging puts on a mesh access-log entry (`response_details`,
/// `policy_name`, `policy_rule`), kept as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CloudAuthzLabels {
    pub response_details: Option<String>,
    /// `<Namespace>.<Name>`.
    pub policy_name: Option<String>,
    pub policy_rule: Option<String>,
}

/// One request (or TCP connection) as an access log reports it. Envoy's `-` (no value) becomes `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccessRecord {
    pub start_time: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub protocol: Option<String>,
    /// `None` when Envoy logged `0` or nothing: a TCP connection, or a stream reset before any response.
    pub response_code: Option<u16>,
    pub response_flags: Option<String>,
    pub response_code_details: Option<String>,
    pub connection_termination_details: Option<String>,
    pub x_forwarded_for: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub authority: Option<String>,
    pub upstream_host: Option<String>,
    pub upstream_cluster: Option<String>,
    pub downstream_local_address: Option<String>,
    pub downstream_remote_address: Option<String>,
    pub route_name: Option<String>,
    /// The caller's SPIFFE id, when the log carries one (a custom format, or Cloud Logging's
    /// `source_principal`); Istio's default format does not.
    pub source_principal: Option<String>,
    /// Only for entries read from Cloud Logging.
    pub cloud_labels: Option<CloudAuthzLabels>,
}

/// What one line of input turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Record(Box<AccessRecord>),
    /// Blank, or another kind of log line (Envoy's own `[2024-..][warning]` lines, application output).
    NotAccessLog,
    /// It looked like an access-log entry but could not be read; the reason says why.
    Malformed(String),
}

/// Read one line of an istio-proxy log, TEXT or JSON.
pub fn parse_line(line: &str) -> Line {
    let t = line.trim();
    if t.starts_with('{') {
        return match serde_json::from_str::<Value>(t) {
            Ok(v) => match record_from_json(&v) {
                Some(r) => Line::Record(Box::new(r)),
                None => Line::NotAccessLog,
            },
            Err(e) => Line::Malformed(format!("invalid JSON: {e}")),
        };
    }
    if t.starts_with('[') {
        return parse_text(t);
    }
    Line::NotAccessLog
}

/// An Envoy JSON access-log entry (Istio's labels). Other JSON objects (istiod's or an application's JSON
/// logs) are `None`.
pub fn record_from_json(v: &Value) -> Option<AccessRecord> {
    let obj = v.as_object()?;
    let is_access_log = obj.contains_key("response_code")
        && (obj.contains_key("response_code_details") || obj.contains_key("response_flags"));
    if !is_access_log {
        return None;
    }
    let s = |k: &str| json_str(obj.get(k));
    Some(AccessRecord {
        start_time: s("start_time"),
        method: s("method"),
        path: s("path"),
        protocol: s("protocol"),
        response_code: obj.get("response_code").and_then(json_code),
        response_flags: s("response_flags"),
        response_code_details: s("response_code_details"),
        connection_termination_details: s("connection_termination_details"),
        x_forwarded_for: s("x_forwarded_for"),
        user_agent: s("user_agent"),
        request_id: s("request_id"),
        authority: s("authority"),
        upstream_host: s("upstream_host"),
        upstream_cluster: s("upstream_cluster"),
        downstream_local_address: s("downstream_local_address"),
        downstream_remote_address: s("downstream_remote_address"),
        route_name: s("route_name"),
        source_principal: s("source_principal")
            .or_else(|| s("downstream_peer_uri_san"))
            .or_else(|| s("downstream_peer_principal")),
        cloud_labels: None,
    })
}

/// A JSON value as text, with Envoy's "no value" spellings (`null`, `-`, empty) as `None`.
pub(crate) fn json_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => present(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Envoy writes the status as a number in typed JSON and as text elsewhere; `0` means no response.
pub(crate) fn json_code(v: &Value) -> Option<u16> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|c| *c != 0)
}

fn present(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s != "-").then(|| s.to_owned())
}

/// The default TEXT format's fields in order after `[START_TIME]` and `"METHOD PATH PROTOCOL"`.
const TEXT_FIELDS: usize = 20;

fn parse_text(line: &str) -> Line {
    let mut tokens = Tokens { rest: line };
    let Some(Token::Bracketed(start)) = tokens.next() else {
        return Line::NotAccessLog;
    };
    // Envoy's own log lines also start with a bracketed time, then `[thread][level]`; an access-log entry has
    // the quoted request line next.
    let request = match tokens.next() {
        Some(Token::Quoted(r)) => r,
        _ => return Line::NotAccessLog,
    };
    let mut rest = Vec::with_capacity(TEXT_FIELDS);
    for t in tokens.by_ref() {
        rest.push(t.text());
        if rest.len() == TEXT_FIELDS {
            break;
        }
    }
    if rest.len() < 3 {
        return Line::Malformed(format!(
            "access-log line ends after {} fields; expected Istio's default format (status, flags, details, ...)",
            rest.len() + 2
        ));
    }
    let mut parts = request.splitn(3, ' ');
    let (method, path, protocol) = (parts.next(), parts.next(), parts.next());
    let field = |i: usize| rest.get(i).and_then(|s| present(s));
    let code_text = rest.first().copied().unwrap_or_default();
    let response_code = match code_text.parse::<u16>() {
        Ok(c) => (c != 0).then_some(c),
        Err(_) => {
            return Line::Malformed(format!(
                "{code_text:?} where the response code should be; is this Istio's default access-log format?"
            ));
        }
    };
    Line::Record(Box::new(AccessRecord {
        start_time: present(start),
        method: method.and_then(present),
        path: path.and_then(present),
        protocol: protocol.and_then(present),
        response_code,
        response_flags: field(1),
        response_code_details: field(2),
        connection_termination_details: field(3),
        // 4 upstream transport failure reason, 5 bytes received, 6 bytes sent, 7 duration, 8 upstream time
        x_forwarded_for: field(9),
        user_agent: field(10),
        request_id: field(11),
        authority: field(12),
        upstream_host: field(13),
        upstream_cluster: field(14),
        // 15 upstream local address
        downstream_local_address: field(16),
        downstream_remote_address: field(17),
        // 18 requested server name
        route_name: field(19),
        source_principal: None,
        cloud_labels: None,
    }))
}

enum Token<'a> {
    Bracketed(&'a str),
    Quoted(&'a str),
    Bare(&'a str),
}

impl<'a> Token<'a> {
    fn text(&self) -> &'a str {
        match self {
            Token::Bracketed(s) | Token::Quoted(s) | Token::Bare(s) => s,
        }
    }
}

/// Splits a TEXT access-log line into `[...]`, `"..."` and bare words. Envoy does not escape quotes inside
/// header values, so a quoted field ends at a quote followed by a space or the end of the line.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let s = self.rest.trim_start_matches(' ');
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let (tok, rest) = if let Some(inner) = s.strip_prefix('"') {
            let end = find_closing_quote(inner);
            let after = inner.get(end + 1..).unwrap_or("");
            (Token::Quoted(&inner[..end]), after)
        } else if let Some(inner) = s.strip_prefix('[') {
            match inner.find(']') {
                Some(end) => (Token::Bracketed(&inner[..end]), &inner[end + 1..]),
                None => (Token::Bare(s), ""),
            }
        } else {
            let end = s.find(' ').unwrap_or(s.len());
            (Token::Bare(&s[..end]), &s[end..])
        };
        self.rest = rest;
        Some(tok)
    }
}

fn find_closing_quote(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'"', &bytes[from..]) {
        let at = from + i;
        if at + 1 == bytes.len() || bytes[at + 1] == b' ' {
            return at;
        }
        from = at + 1;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        crate::test_support::fixture("authz", name)
    }

    fn records(text: &str) -> Vec<AccessRecord> {
        text.lines()
            .filter_map(|l| match parse_line(l) {
                Line::Record(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn text_and_json_logs_of_the_same_requests_read_alike() {
        let text = records(&fixture("access-text-deny.log"));
        let json = records(&fixture("access-json-deny.log"));
        assert_eq!(text.len(), 12);
        assert_eq!(json.len(), 12);
        for (t, j) in text.iter().zip(&json) {
            assert_eq!(t.method, j.method);
            assert_eq!(t.path, j.path);
            assert_eq!(t.response_code, j.response_code);
            assert_eq!(t.response_code_details, j.response_code_details);
            assert_eq!(t.connection_termination_details, j.connection_termination_details);
            assert_eq!(t.x_forwarded_for, j.x_forwarded_for);
            assert_eq!(t.authority, j.authority);
            assert_eq!(t.upstream_cluster, j.upstream_cluster);
        }
    }

    #[test]
    fn reads_every_field_of_a_denied_request() {
        let text = records(&fixture("access-text-deny.log"));
        let d = &text[3];
        assert_eq!(d.method.as_deref(), Some("DELETE"));
        assert_eq!(d.path.as_deref(), Some("/delete"));
        assert_eq!(d.protocol.as_deref(), Some("HTTP/1.1"));
        assert_eq!(d.response_code, Some(403));
        assert_eq!(d.response_flags, None);
        assert_eq!(
            d.response_code_details.as_deref(),
            Some("rbac_access_denied_matched_policy[ns[authz-ns]-policy[deny-method-delete]-rule[0]]")
        );
        assert_eq!(d.user_agent.as_deref(), Some("curl/7.88.1"));
        assert_eq!(d.authority.as_deref(), Some("httpbin.authz-ns:8000"));
        assert_eq!(d.upstream_host, None);
        assert_eq!(d.upstream_cluster.as_deref(), Some("inbound|8000||"));
        assert_eq!(d.downstream_local_address.as_deref(), Some("127.0.60.1:15006"));
        assert!(d.downstream_remote_address.as_deref().unwrap().starts_with("127.0.60.21:"));
        assert_eq!(d.route_name.as_deref(), Some("default"));
        assert!(d.start_time.as_deref().unwrap().ends_with('Z'));
    }

    #[test]
    fn tcp_denial_has_no_status_and_names_the_policy_in_termination_details() {
        let text = records(&fixture("access-text-deny.log"));
        let tcp = text.last().unwrap();
        assert_eq!(tcp.method, None);
        assert_eq!(tcp.response_code, None);
        assert_eq!(tcp.response_code_details, None);
        assert_eq!(
            tcp.connection_termination_details.as_deref(),
            Some("rbac_access_denied_matched_policy[ns[authz-ns]-policy[deny-tcp-9000]-rule[0]]")
        );
    }

    #[test]
    fn envoy_own_log_lines_are_not_access_log_entries() {
        assert_eq!(
            parse_line("[2026-12-04 20:05:51.282][28266][warning][main] [source/server/server.cc:449] hello"),
            Line::NotAccessLog
        );
        assert_eq!(parse_line(""), Line::NotAccessLog);
        assert_eq!(parse_line("2026-12-04T20:05:51Z info ads push"), Line::NotAccessLog);
        assert_eq!(parse_line(r#"{"level":"info","msg":"not an access log"}"#), Line::NotAccessLog);
    }

    #[test]
    fn truncated_and_garbled_lines_are_malformed_not_panics() {
        let full = fixture("access-text-deny.log");
        let line = full.lines().nth(3).unwrap();
        for cut in 0..line.len() {
            if line.is_char_boundary(cut) {
                let _ = parse_line(&line[..cut]);
            }
        }
        assert!(matches!(
            parse_line(r#"[2026-12-04T20:06:18.356Z] "DELETE /delete HTTP/1.1" 403"#),
            Line::Malformed(_)
        ));
        assert!(matches!(parse_line(r#"[t] "GET / HTTP/1.1" abc - - - "-""#), Line::Malformed(_)));
        assert!(matches!(parse_line("{\"response_code\": 4"), Line::Malformed(_)));
        for junk in ["[", "[\"", "[]\"", "[x] \"", "\u{0}[\u{ffff}] \"\"\"", "{}", "[]"] {
            let _ = parse_line(junk);
        }
    }

    #[test]
    fn quoted_user_agent_with_spaces_and_quotes_stays_one_field() {
        let line = r#"[2026-01-01T00:00:00.000Z] "GET /x HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "Mozilla/5.0 (X11; "quoted") x" "id-1" "svc:80" "-" inbound|80|| - 10.0.0.1:80 10.0.0.2:5555 - default"#;
        let Line::Record(r) = parse_line(line) else { panic!("not read") };
        assert_eq!(r.user_agent.as_deref(), Some(r#"Mozilla/5.0 (X11; "quoted") x"#));
        assert_eq!(r.request_id.as_deref(), Some("id-1"));
        assert_eq!(r.downstream_remote_address.as_deref(), Some("10.0.0.2:5555"));
    }

    #[test]
    fn json_status_as_text_or_number() {
        assert_eq!(json_code(&serde_json::json!(403)), Some(403));
        assert_eq!(json_code(&serde_json::json!("403")), Some(403));
        assert_eq!(json_code(&serde_json::json!(0)), None);
        assert_eq!(json_code(&serde_json::json!(70000)), None);
        assert_eq!(json_code(&serde_json::json!(null)), None);
    }
}
