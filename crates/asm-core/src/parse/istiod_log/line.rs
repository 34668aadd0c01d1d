//! One istiod log line, whatever shape it was written in, reduced to time, level, scope and message so the
//! signatures can be matched on the message alone.
//!
//! Shapes met in the wild (format sources cited per Istio version):
//! - Istio text (`pkg/log/config.go`, zap console encoder, every version 1.6 to 1.31):
//!   `2024-01-01T00:00:00.000000Z\tLEVEL\t[SCOPE\t][CALLER\t]MSG[\tkey=value key=value]`. The default scope
//!   writes no scope column (`pkg/log/scope.go`: `nameToEmit` is empty for "default"); labels added with
//!   `WithLabels` follow the message after a tab (`Scope.emit`, 1.20+); `--log_caller` adds `file.go:123`.
//! - Istio JSON (`--log_as_json`): keys `time`, `level`, `scope`, `msg`, `caller`, labels as extra keys.
//! - Stackdriver/Cloud Logging JSON (`pkg/log/config.go` `useStackdriverFormat`): `timestamp`, `severity`,
//!   `logger`, `message`; an exported Cloud Logging entry puts the text line in `textPayload`.
//! - klog headers (`E0101 00:00:00.000000       1 reflector.go:138] msg`) when client-go logged before
//!   istio's klog redirection was installed, or from a sidecar container.
//! - `kubectl logs --timestamps` prefixes any of the above with `RFC3339NANO ` (a space, not a tab).

use std::borrow::Cow;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Severity as the line states it; `warning` (Stackdriver) and `warn` are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub fn parse(word: &str) -> Option<Level> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" => Level::Debug,
            "info" | "notice" | "default" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            "fatal" | "critical" | "panic" | "dpanic" | "alert" | "emergency" => Level::Fatal,
            _ => return None,
        })
    }

    fn from_klog(letter: u8) -> Option<Level> {
        Some(match letter {
            b'I' => Level::Info,
            b'W' => Level::Warn,
            b'E' => Level::Error,
            b'F' => Level::Fatal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

/// Which of the shapes above a line had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineFormat {
    IstioText,
    IstioJson,
    Klog,
    /// Anything else: the message is the whole line.
    Plain,
}

/// A parsed line. Times are microseconds since the Unix epoch (istio writes microseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine<'a> {
    pub time: Option<i64>,
    /// The time as written, for samples (`0101 00:00:00.000000` for klog, which has no year).
    pub time_text: Option<String>,
    pub level: Option<Level>,
    pub scope: Option<String>,
    pub message: Cow<'a, str>,
    pub format: LineFormat,
}

/// Parse a line (without its newline). Never fails: what cannot be read as a known shape is `Plain`.
pub fn parse_line(raw: &[u8]) -> LogLine<'_> {
    let text = String::from_utf8_lossy(raw);
    let text = match text {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim_end_matches(['\r', '\n'])),
        Cow::Owned(s) => Cow::Owned(s.trim_end_matches(['\r', '\n']).to_owned()),
    };
    // kubectl --timestamps: `2024-01-01T00:00:00.123456789Z ` before the container's own line.
    let (prefix_time, rest_start) = match text.find(' ') {
        Some(i) if i >= 20 && text.as_bytes()[0].is_ascii_digit() && !text[..i].contains('\t') => {
            match parse_rfc3339(&text[..i]) {
                Some(t) => (Some((t, text[..i].to_owned())), i + 1),
                None => (None, 0),
            }
        }
        _ => (None, 0),
    };
    let mut line = match text {
        Cow::Borrowed(s) => parse_body(&s[rest_start..]),
        Cow::Owned(s) => parse_body(&s[rest_start..]).into_owned(),
    };
    if line.time.is_none()
        && let Some((t, txt)) = prefix_time
    {
        line.time = Some(t);
        line.time_text = Some(txt);
    }
    line
}

impl LogLine<'_> {
    fn into_owned(self) -> LogLine<'static> {
        LogLine {
            time: self.time,
            time_text: self.time_text,
            level: self.level,
            scope: self.scope,
            message: Cow::Owned(self.message.into_owned()),
            format: self.format,
        }
    }
}

fn parse_body(s: &str) -> LogLine<'_> {
    let trimmed = s.trim_start();
    if trimmed.starts_with('{')
        && let Some(line) = parse_json(trimmed)
    {
        return line;
    }
    if let Some(line) = parse_klog(s) {
        return line;
    }
    if let Some(line) = parse_istio_text(s) {
        return line;
    }
    // Plain: a leading level word still counts (the runbook quotes lines as `error failed to list ...`).
    let level = s.split([' ', '\t']).next().and_then(Level::parse).filter(|_| s.len() > 6);
    LogLine { time: None, time_text: None, level, scope: None, message: Cow::Borrowed(s), format: LineFormat::Plain }
}

fn parse_istio_text(s: &str) -> Option<LogLine<'_>> {
    let mut fields = s.splitn(3, '\t');
    let ts = fields.next()?;
    let time = parse_rfc3339(ts)?;
    let level = Level::parse(fields.next()?)?;
    let mut rest = fields.next().unwrap_or("");
    let mut scope = None;
    if let Some((first, after)) = rest.split_once('\t')
        && is_scope_name(first)
    {
        scope = Some(first.to_owned());
        rest = after;
    }
    if let Some((first, after)) = rest.split_once('\t')
        && is_caller(first)
    {
        rest = after;
    }
    Some(LogLine {
        time: Some(time),
        time_text: Some(ts.to_owned()),
        level: Some(level),
        scope,
        message: Cow::Borrowed(rest),
        format: LineFormat::IstioText,
    })
}

/// Istio scope names are short lowercase words (`ads`, `serverca`, `klog`, `model`, `security`, `kube`).
fn is_scope_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `bootstrap/server.go:123` or `pkg/mod/k8s.io/client-go@v0.28.0/tools/cache/reflector.go:229`.
fn is_caller(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((file, line)) => {
            file.ends_with(".go") && !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) && !file.contains(' ')
        }
        None => false,
    }
}

/// `E0101 00:00:00.000000       1 reflector.go:138] message` (k8s.io/klog/v2 `formatHeader`).
fn parse_klog(s: &str) -> Option<LogLine<'_>> {
    let b = s.as_bytes();
    if b.len() < 22 || !b[1..5].iter().all(u8::is_ascii_digit) || b[5] != b' ' {
        return None;
    }
    let level = Level::from_klog(b[0])?;
    if b[8] != b':' || b[11] != b':' || b[14] != b'.' {
        return None;
    }
    let close = s.find("] ")?;
    if close > 120 {
        return None;
    }
    Some(LogLine {
        time: None,
        time_text: s.get(1..21).map(str::to_owned),
        level: Some(level),
        scope: None,
        message: Cow::Borrowed(&s[close + 2..]),
        format: LineFormat::Klog,
    })
}

fn parse_json(s: &str) -> Option<LogLine<'static>> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(s).ok()?;
    // An exported Cloud Logging entry wraps the container's own line.
    if let Some(serde_json::Value::String(inner)) = v.get("textPayload") {
        let mut line = parse_body(inner).into_owned();
        if line.time.is_none()
            && let Some(serde_json::Value::String(ts)) = v.get("timestamp")
        {
            line.time = parse_rfc3339(ts);
            line.time_text = Some(ts.clone());
        }
        return Some(line);
    }
    let obj = match v.get("jsonPayload") {
        Some(serde_json::Value::Object(p)) => p,
        _ => &v,
    };
    let get = |keys: &[&str]| keys.iter().find_map(|k| obj.get(*k).or_else(|| v.get(*k))).and_then(|x| x.as_str());
    let message = get(&["msg", "message"])?.to_owned();
    let time_text = get(&["time", "timestamp", "ts"]).map(str::to_owned);
    Some(LogLine {
        time: time_text.as_deref().and_then(parse_rfc3339),
        time_text,
        level: get(&["level", "severity"]).and_then(Level::parse),
        scope: get(&["scope", "logger"]).map(str::to_owned),
        message: Cow::Owned(message),
        format: LineFormat::IstioJson,
    })
}

/// RFC 3339 to microseconds since the epoch; `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// Microseconds since the epoch back to RFC 3339 (UTC, microseconds), for reports.
pub fn format_micros(us: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_text_with_scope_and_labels() {
        let l = parse_line(
            b"2024-03-01T10:00:00.123456Z\terror\tklog\tfailed to list *v1.Pod: boom\treflector=x type=*v1.Pod",
        );
        assert_eq!(l.format, LineFormat::IstioText);
        assert_eq!(l.level, Some(Level::Error));
        assert_eq!(l.scope.as_deref(), Some("klog"));
        assert!(l.message.starts_with("failed to list *v1.Pod: boom\t"));
        assert_eq!(l.time, parse_rfc3339("2024-03-01T10:00:00.123456Z"));
    }

    #[test]
    fn default_scope_has_no_scope_column() {
        let l = parse_line(b"2024-03-01T10:00:00.000000Z\tinfo\thttp: TLS handshake error from 10.0.0.1:5: EOF");
        assert_eq!(l.scope, None);
        assert_eq!(l.message, "http: TLS handshake error from 10.0.0.1:5: EOF");
    }

    #[test]
    fn kubectl_timestamp_prefix_and_klog() {
        let l = parse_line(b"2024-03-01T10:00:00.5Z E0301 10:00:00.400000       1 reflector.go:138] oops");
        assert_eq!(l.format, LineFormat::Klog);
        assert_eq!(l.level, Some(Level::Error));
        assert_eq!(l.message, "oops");
        assert_eq!(l.time, parse_rfc3339("2024-03-01T10:00:00.5Z"));
    }

    #[test]
    fn json_and_cloud_logging() {
        let l = parse_line(
            br#"{"level":"warn","time":"2024-03-01T10:00:00.000000Z","scope":"serverca","msg":"Authentication failed: x"}"#,
        );
        assert_eq!(l.format, LineFormat::IstioJson);
        assert_eq!(l.scope.as_deref(), Some("serverca"));
        assert_eq!(l.level, Some(Level::Warn));
        let l = parse_line(
            br#"{"textPayload":"2024-03-01T10:00:00.000000Z\twarn\tserverca\thello","timestamp":"2024-03-01T10:00:01Z"}"#,
        );
        assert_eq!(l.scope.as_deref(), Some("serverca"));
        assert_eq!(l.message, "hello");
    }

    #[test]
    fn garbage_is_plain_and_does_not_panic() {
        for raw in
            [&b""[..], b"\xff\xfe\x00", b"{", b"E0", b"2024-13-99T99:99:99Z\tinfo\tx", b"W1234 12:34:56.123456 ]"]
        {
            let _ = parse_line(raw);
        }
        assert_eq!(parse_line(b"{not json").format, LineFormat::Plain);
    }
}
