//! Mesh access-log entries exported from Cloud Logging as JSON (`gcloud logging read --format=json` prints
//! an array; exports to files and sinks write one entry a line), read into the same [`AccessRecord`] the
//! istio-proxy parsers produce.
//!
//! The shape is the public LogEntry schema: `timestamp`, `httpRequest` (requestMethod, requestUrl, status,
//! remoteIp, serverIp, protocol, userAgent), `labels` — where Cloud Service Mesh puts `response_details`
//! (`AuthzDenied` for a policy denial), `policy_name` (`<Namespace>.<Name>`) and `policy_rule` (index) — or
//! a container's raw stdout in `textPayload`/`jsonPayload`.
//!
//! [`Reader`] takes input one line at a time and keeps at most one entry in memory, so a multi-gigabyte
//! export streams in bounded memory whether it is an array, JSON lines or a plain istio-proxy log.

use serde_json::{Map, Value};

use super::access_log::{AccessRecord, CloudAuthzLabels, Line, json_code, json_str, parse_line, record_from_json};

/// The largest single entry accepted inside a JSON array; anything bigger is reported and skipped.
const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// A LogEntry (or a raw Envoy JSON entry) as an access record; `None` when it is not an access-log entry.
pub fn record_from_value(v: &Value) -> Option<AccessRecord> {
    let obj = v.as_object()?;
    if let Some(r) = record_from_json(v) {
        return Some(r);
    }
    if let Some(http) = obj.get("httpRequest").and_then(Value::as_object) {
        return Some(from_http_request(obj, http));
    }
    // istio-proxy's stdout shipped as is: the payload is an access-log line of its own.
    if let Some(p) = obj.get("jsonPayload") {
        let mut r = record_from_json(p)?;
        r.cloud_labels = labels(obj);
        return Some(r);
    }
    if let Some(text) = obj.get("textPayload").and_then(Value::as_str) {
        return match parse_line(text) {
            Line::Record(r) => Some(*r),
            _ => None,
        };
    }
    None
}

fn labels(entry: &Map<String, Value>) -> Option<CloudAuthzLabels> {
    let l = entry.get("labels")?.as_object()?;
    Some(CloudAuthzLabels {
        response_details: json_str(l.get("response_details")),
        policy_name: json_str(l.get("policy_name")),
        policy_rule: json_str(l.get("policy_rule")),
    })
}

fn from_http_request(entry: &Map<String, Value>, http: &Map<String, Value>) -> AccessRecord {
    let label = |k: &str| entry.get("labels").and_then(Value::as_object).and_then(|l| json_str(l.get(k)));
    let (authority, path) = json_str(http.get("requestUrl")).map(|u| split_url(&u)).unwrap_or_default();
    AccessRecord {
        start_time: json_str(entry.get("timestamp")),
        method: json_str(http.get("requestMethod")),
        path,
        protocol: json_str(http.get("protocol")),
        response_code: http.get("status").and_then(json_code),
        response_flags: label("response_flag"),
        // Cloud Logging's response_details carries Envoy's details for everything but policy denials,
        // which it names `AuthzDenied` and details in policy_name/policy_rule.
        response_code_details: label("response_details").filter(|d| d != "AuthzDenied"),
        connection_termination_details: None,
        x_forwarded_for: None,
        user_agent: json_str(http.get("userAgent")),
        request_id: label("request_id"),
        authority,
        upstream_host: None,
        upstream_cluster: None,
        downstream_local_address: json_str(http.get("serverIp")),
        downstream_remote_address: json_str(http.get("remoteIp")),
        route_name: None,
        source_principal: label("source_principal"),
        cloud_labels: labels(entry),
    }
}

/// `http://host:port/path?q` into (authority, path-with-query).
fn split_url(url: &str) -> (Option<String>, Option<String>) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => (Some(rest[..i].to_owned()).filter(|s| !s.is_empty()), Some(rest[i..].to_owned())),
        None => (Some(rest.to_owned()).filter(|s| !s.is_empty()), None),
    }
}

/// Reads any of the supported inputs line by line: istio-proxy TEXT or JSON lines, Cloud Logging JSON lines,
/// or a Cloud Logging JSON array (pretty-printed or not).
#[derive(Debug, Default)]
pub struct Reader {
    mode: Mode,
    array: ArraySplitter,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Undecided,
    Lines,
    Array,
}

impl Reader {
    pub fn new() -> Self {
        Reader::default()
    }

    /// Feed one line (without its newline); what it completed comes back, usually zero or one item.
    pub fn push_line(&mut self, line: &str) -> Vec<Line> {
        if self.mode == Mode::Undecided {
            let t = line.trim();
            if t.is_empty() {
                return Vec::new();
            }
            self.mode = if looks_like_array_start(t) { Mode::Array } else { Mode::Lines };
        }
        match self.mode {
            Mode::Array => self
                .array
                .push(line)
                .into_iter()
                .map(|el| match el {
                    Ok(text) => match serde_json::from_str::<Value>(&text) {
                        Ok(v) => match record_from_value(&v) {
                            Some(r) => Line::Record(Box::new(r)),
                            None => Line::NotAccessLog,
                        },
                        Err(e) => Line::Malformed(format!("invalid JSON array element: {e}")),
                    },
                    Err(msg) => Line::Malformed(msg),
                })
                .collect(),
            _ => vec![read_line(line)],
        }
    }

    /// Call at the end of input: an array left open means the file was cut short.
    pub fn finish(&self) -> Option<String> {
        (self.mode == Mode::Array && !self.array.closed)
            .then(|| "the JSON array ends before its closing `]`: the export looks truncated".to_owned())
    }
}

/// A single line outside an array: an istio-proxy line, or a Cloud Logging entry on one line.
fn read_line(line: &str) -> Line {
    let t = line.trim();
    if t.starts_with('{') {
        return match serde_json::from_str::<Value>(t) {
            Ok(v) => match record_from_value(&v) {
                Some(r) => Line::Record(Box::new(r)),
                None => Line::NotAccessLog,
            },
            Err(e) => Line::Malformed(format!("invalid JSON: {e}")),
        };
    }
    parse_line(line)
}

/// `[` alone, `[{`, or `[]` start a JSON array; `[2026-...]` starts a TEXT access-log line.
fn looks_like_array_start(t: &str) -> bool {
    t.strip_prefix('[').is_some_and(|rest| {
        let rest = rest.trim_start();
        rest.is_empty() || rest.starts_with('{') || rest.starts_with(']')
    })
}

/// Splits a top-level JSON array into its elements' text as lines arrive, tracking strings and nesting so
/// braces inside values do not confuse it.
#[derive(Debug, Default)]
struct ArraySplitter {
    /// Nesting depth, the outer array included.
    depth: usize,
    in_string: bool,
    escaped: bool,
    current: String,
    oversized: bool,
    closed: bool,
}

impl ArraySplitter {
    fn push(&mut self, line: &str) -> Vec<Result<String, String>> {
        let mut done = Vec::new();
        let mut start = None;
        for (i, c) in line.char_indices() {
            if self.closed {
                break;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == '"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                '"' => self.in_string = true,
                '{' | '[' => {
                    self.depth += 1;
                    if self.depth == 2 {
                        start = Some(i);
                        self.current.clear();
                        self.oversized = false;
                    }
                }
                '}' | ']' => {
                    if self.depth == 2 {
                        let from = start.take().unwrap_or(0);
                        self.append(&line[from..=i]);
                        done.push(if self.oversized {
                            Err(format!("an array element larger than {MAX_ENTRY_BYTES} bytes was skipped"))
                        } else {
                            Ok(std::mem::take(&mut self.current))
                        });
                        self.current.clear();
                    }
                    if self.depth == 1 {
                        self.closed = true;
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                _ => {}
            }
        }
        if self.depth >= 2 {
            let from = start.unwrap_or(0);
            self.append(&line[from..]);
            self.append("\n");
        }
        done
    }

    fn append(&mut self, s: &str) {
        if self.current.len() + s.len() > MAX_ENTRY_BYTES {
            self.oversized = true;
            self.current.clear();
        } else if !self.oversized {
            self.current.push_str(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        crate::test_support::fixture("authz", name)
    }

    fn read_all(text: &str) -> (Vec<AccessRecord>, Vec<String>, Option<String>) {
        let mut r = Reader::new();
        let (mut recs, mut bad) = (Vec::new(), Vec::new());
        for line in text.lines() {
            for l in r.push_line(line) {
                match l {
                    Line::Record(x) => recs.push(*x),
                    Line::Malformed(m) => bad.push(m),
                    Line::NotAccessLog => {}
                }
            }
        }
        (recs, bad, r.finish())
    }

    #[test]
    fn array_and_json_lines_exports_read_the_same() {
        let (a, bad_a, end_a) = read_all(&fixture("cloud-logging-export.json"));
        let (l, bad_l, end_l) = read_all(&fixture("cloud-logging-export.jsonl"));
        assert_eq!(a.len(), 15);
        assert_eq!(a, l);
        assert!(bad_a.is_empty() && bad_l.is_empty());
        assert_eq!((end_a, end_l), (None, None));
    }

    #[test]
    fn labels_and_http_request_are_read() {
        let (recs, _, _) = read_all(&fixture("cloud-logging-export.json"));
        let del = recs.iter().find(|r| r.method.as_deref() == Some("DELETE")).unwrap();
        let labels = del.cloud_labels.as_ref().unwrap();
        assert_eq!(labels.response_details.as_deref(), Some("AuthzDenied"));
        assert_eq!(labels.policy_name.as_deref(), Some("authz-ns.deny-method-delete"));
        assert_eq!(labels.policy_rule.as_deref(), Some("0"));
        assert_eq!(del.response_code, Some(403));
        assert_eq!(del.authority.as_deref(), Some("httpbin.authz-ns:8000"));
        assert_eq!(del.path.as_deref(), Some("/delete"));
        assert_eq!(del.response_code_details, None);
        let app = recs.iter().find(|r| r.path.as_deref() == Some("/status/403")).unwrap();
        assert_eq!(app.response_code_details.as_deref(), Some("via_upstream"));
    }

    #[test]
    fn truncated_array_is_reported() {
        let text = fixture("cloud-logging-export.json");
        let cut = &text[..text.len() / 2];
        let (recs, _, end) = read_all(cut);
        assert!(recs.len() < 15 && !recs.is_empty());
        assert!(end.unwrap().contains("truncated"));
    }

    #[test]
    fn compact_array_on_one_line_and_braces_inside_strings() {
        let text = r#"[{"httpRequest":{"requestMethod":"GET","requestUrl":"http://a/}{[","status":403},"labels":{"response_details":"AuthzDenied"}}, {"textPayload":"hello"}]"#;
        let (recs, bad, end) = read_all(text);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].path.as_deref(), Some("/}{["));
        assert!(bad.is_empty());
        assert_eq!(end, None);
    }

    #[test]
    fn text_payload_and_json_payload_carry_proxy_lines() {
        let text_line = fixture("access-text-deny.log").lines().nth(3).unwrap().to_owned();
        let entry = serde_json::json!({"textPayload": text_line, "timestamp": "x"});
        let r = record_from_value(&entry).unwrap();
        assert_eq!(r.method.as_deref(), Some("DELETE"));
        let json_line = fixture("access-json-deny.log").lines().nth(3).unwrap().to_owned();
        let payload: Value = serde_json::from_str(&json_line).unwrap();
        let entry = serde_json::json!({"jsonPayload": payload});
        assert_eq!(record_from_value(&entry).unwrap().response_code, Some(403));
        assert_eq!(record_from_value(&serde_json::json!({"logName": "x"})), None);
    }

    #[test]
    fn garbage_never_panics() {
        for junk in ["[", "[{", "[{\"a\":\"\\", "]]]]", "[{}}}}]", "{\"httpRequest\": 5}", "[\u{0}{\u{ffff}"] {
            let _ = read_all(junk);
        }
        assert_eq!(split_url("no-scheme"), (Some("no-scheme".into()), None));
        assert_eq!(split_url("http:///p"), (None, Some("/p".into())));
    }
}
