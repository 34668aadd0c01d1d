//! "Verify TLS enforcement": a plain-text request to a service that requires mTLS must be refused.
//!
//! The verdict rests on three signals that runtimes cannot all get wrong at once: curl's own error line on
//! stderr, the HTTP status written by `-w`, and the exec's exit status. When they disagree the finding says so.

use serde::Serialize;
use serde_json::json;

use crate::model::{ExecOutput, ExitReport};
use crate::parse::curl::{CurlError, curl_error, http_code, says_executable_missing};

/// Exit codes curl uses for the outcomes we classify (see `man curl`, EXIT CODES).
const CURLE_COULDNT_RESOLVE_HOST: i32 = 6;
const CURLE_COULDNT_CONNECT: i32 = 7;
const CURLE_OPERATION_TIMEDOUT: i32 = 28;
const CURLE_GOT_NOTHING: i32 = 52;
const CURLE_SEND_ERROR: i32 = 55;
const CURLE_RECV_ERROR: i32 = 56;
/// What shells and runtimes report when the binary is missing or not executable.
const EXIT_NOT_FOUND: i32 = 127;
const EXIT_NOT_EXECUTABLE: i32 = 126;

/// Why a probe could not tell whether plain text is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Inconclusive {
    NameNotResolved,
    ConnectionRefused,
    Timeout,
    CurlMissing,
    Unrecognized,
}

/// What the plain-text probe showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum PlaintextVerdict {
    /// The server closed or reset the connection without an HTTP answer: TLS is required.
    Rejected {
        curl: CurlError,
    },
    /// An HTTP response came back over plain text.
    Answered {
        http_code: u16,
    },
    Inconclusive {
        reason: Inconclusive,
        detail: String,
    },
}

/// Classify one probe's output. Never panics; anything unrecognised is `Inconclusive`.
pub fn judge(out: &ExecOutput) -> PlaintextVerdict {
    let curl = curl_error(&out.stderr);
    let status = http_code(&out.stdout);

    if let ExitReport::StartFailed { message } = &out.exit {
        let reason =
            if says_executable_missing(message) { Inconclusive::CurlMissing } else { Inconclusive::Unrecognized };
        return PlaintextVerdict::Inconclusive { reason, detail: message.clone() };
    }
    if let Some(code) = status {
        return PlaintextVerdict::Answered { http_code: code };
    }
    // curl's own line is the most faithful signal; fall back to the exit status when stderr was lost.
    let code = curl.as_ref().map(|c| c.code).or_else(|| out.exit.code().filter(|c| *c != 0));
    match code {
        Some(CURLE_RECV_ERROR | CURLE_GOT_NOTHING | CURLE_SEND_ERROR) => PlaintextVerdict::Rejected {
            curl: curl.unwrap_or_else(|| CurlError {
                code: code.unwrap_or_default(),
                message: "(no message on stderr)".into(),
            }),
        },
        Some(CURLE_COULDNT_RESOLVE_HOST) => inconclusive(Inconclusive::NameNotResolved, curl, out),
        Some(CURLE_COULDNT_CONNECT) => inconclusive(Inconclusive::ConnectionRefused, curl, out),
        Some(CURLE_OPERATION_TIMEDOUT) => inconclusive(Inconclusive::Timeout, curl, out),
        Some(EXIT_NOT_FOUND | EXIT_NOT_EXECUTABLE) if curl.is_none() => {
            inconclusive(Inconclusive::CurlMissing, curl, out)
        }
        _ if curl.is_none() && says_executable_missing(&out.stderr) => {
            inconclusive(Inconclusive::CurlMissing, curl, out)
        }
        _ => inconclusive(Inconclusive::Unrecognized, curl, out),
    }
}

fn inconclusive(reason: Inconclusive, curl: Option<CurlError>, out: &ExecOutput) -> PlaintextVerdict {
    let detail = match curl {
        Some(c) => format!("curl: ({}) {}", c.code, c.message),
        None => first_line(&out.stderr).unwrap_or_else(|| out.describe_exit()),
    };
    PlaintextVerdict::Inconclusive { reason, detail }
}

fn first_line(s: &str) -> Option<String> {
    s.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}

/// Where the signals disagree (say the runtime reported exit 0 while curl printed error 56), a line saying
/// so; an operator should know the verdict did not come from the exit status.
pub fn signal_disagreement(out: &ExecOutput) -> Option<String> {
    let curl = curl_error(&out.stderr)?;
    match out.exit.code() {
        Some(code) if code != curl.code => Some(format!(
            "the runtime reported exit status {code} but curl printed error ({}); judged on curl's own message",
            curl.code
        )),
        _ => None,
    }
}

/// The `data` of a `tls.plaintext` finding.
pub fn data(verdict: &PlaintextVerdict, out: &ExecOutput) -> serde_json::Value {
    json!({
        "verdict": verdict,
        "probe": {
            "stdout": out.stdout,
            "stderr": out.stderr,
            "exit": out.exit,
        },
    })
}

/// A hint for each inconclusive reason, with the values filled in.
pub fn hint(reason: Inconclusive, host: &str, source: &str) -> String {
    match reason {
        Inconclusive::NameNotResolved => format!(
            "{host} did not resolve from {source}: check the service name and namespace (SERVICE.NAMESPACE), and that the source pod uses cluster DNS"
        ),
        Inconclusive::ConnectionRefused => format!(
            "nothing accepted the connection at {host}: check the port is the Service port and that the destination has ready endpoints (kubectl get endpointslices)"
        ),
        Inconclusive::Timeout => format!(
            "the request to {host} timed out: a NetworkPolicy or firewall may drop the traffic, or the destination is overloaded; raise --probe-timeout to rule out slowness"
        ),
        Inconclusive::CurlMissing => format!(
            "the container in {source} has no curl: choose another container with -c, or a source pod whose image ships curl"
        ),
        Inconclusive::Unrecognized => "the probe ended in a way this tool does not recognise; run the command above by hand and read curl's output".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stdout: &str, stderr: &str, exit: ExitReport) -> ExecOutput {
        ExecOutput { stdout: stdout.into(), stderr: stderr.into(), exit }
    }

    #[test]
    fn reset_is_rejected_even_when_the_runtime_lost_the_exit_status() {
        let o = out("000", "curl: (56) Recv failure: Connection reset by peer\n", ExitReport::Unreported);
        assert!(matches!(judge(&o), PlaintextVerdict::Rejected { curl } if curl.code == 56));
    }

    #[test]
    fn exit_status_alone_still_classifies() {
        let o = out("", "", ExitReport::Code { code: 52 });
        assert!(matches!(judge(&o), PlaintextVerdict::Rejected { .. }));
    }

    #[test]
    fn any_http_status_means_plain_text_was_answered() {
        let o = out("503", "", ExitReport::Success);
        assert_eq!(judge(&o), PlaintextVerdict::Answered { http_code: 503 });
    }

    #[test]
    fn disagreement_is_reported() {
        let o = out("000", "curl: (56) Recv failure: Connection reset by peer", ExitReport::Success);
        assert!(signal_disagreement(&o).unwrap().contains("exit status 0"));
    }

    #[test]
    fn start_failure_for_missing_curl() {
        let o = out(
            "",
            "",
            ExitReport::StartFailed { message: "exec: \"curl\": executable file not found in $PATH".into() },
        );
        assert!(matches!(judge(&o), PlaintextVerdict::Inconclusive { reason: Inconclusive::CurlMissing, .. }));
    }

    #[test]
    fn garbage_is_unrecognized_not_a_panic() {
        let o = out("\u{0}\u{ffff}", "\u{7}", ExitReport::Code { code: -3 });
        assert!(matches!(judge(&o), PlaintextVerdict::Inconclusive { reason: Inconclusive::Unrecognized, .. }));
    }
}
