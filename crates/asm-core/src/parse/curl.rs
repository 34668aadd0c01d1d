//! curl's own report of how a request ended: the `curl: (N) message` line on stderr and the `-w` status.

use serde::Serialize;

/// curl's numbered error, from its stderr (`curl: (56) Recv failure: Connection reset by peer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurlError {
    pub code: i32,
    pub message: String,
}

/// Find curl's error line anywhere in stderr; the last one wins because curl prints it as it exits.
pub fn curl_error(stderr: &str) -> Option<CurlError> {
    stderr.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("curl: (")?;
        let (code, message) = rest.split_once(')')?;
        Some(CurlError { code: code.parse().ok()?, message: message.trim().to_owned() })
    })
}

/// The HTTP status written by `-w '%{http_code}'`; `000` (no response at all) becomes `None`.
pub fn http_code(stdout: &str) -> Option<u16> {
    let code = stdout.trim().rsplit(|c: char| c.is_whitespace()).next()?;
    if code.len() != 3 {
        return None;
    }
    match code.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// curl's `--max-time` for a probe timeout: whole seconds, rounded up so a timeout is never cut short, at
/// least one.
pub fn max_time_secs(timeout: std::time::Duration) -> u64 {
    timeout.as_secs_f64().max(1.0).ceil() as u64
}

/// Whether stderr or an exec failure says the curl binary is not in the image.
pub fn says_executable_missing(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("executable file not found")
        || t.contains("no such file or directory") && t.contains("curl")
        || t.contains("curl: not found")
        || t.contains("curl: command not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_runbook_example() {
        let e = curl_error("curl: (56) Recv failure: Connection reset by peer\n").unwrap();
        assert_eq!(e.code, 56);
        assert_eq!(e.message, "Recv failure: Connection reset by peer");
    }

    #[test]
    fn no_error_line_is_none() {
        assert_eq!(curl_error("  % Total    % Received\n"), None);
        assert_eq!(curl_error("curl: (x) odd"), None);
    }

    #[test]
    fn http_code_ignores_000() {
        assert_eq!(http_code("000"), None);
        assert_eq!(http_code("200"), Some(200));
        assert_eq!(http_code("\n403\n"), Some(403));
        assert_eq!(http_code("abc"), None);
        assert_eq!(http_code(""), None);
    }

    #[test]
    fn max_time_rounds_up_to_whole_seconds() {
        use std::time::Duration;
        assert_eq!(max_time_secs(Duration::from_millis(1500)), 2);
        assert_eq!(max_time_secs(Duration::from_millis(200)), 1);
        assert_eq!(max_time_secs(Duration::from_secs(5)), 5);
    }

    #[test]
    fn recognises_a_missing_curl() {
        assert!(says_executable_missing(
            r#"OCI runtime exec failed: exec failed: unable to start container process: exec: "curl": executable file not found in $PATH: unknown"#
        ));
        assert!(says_executable_missing("sh: curl: not found"));
        assert!(!says_executable_missing("curl: (7) Failed to connect to nolistener.sample port 8000"));
    }
}
