//! istiod's logs, read for the runbook's three signatures (TLS bad certificate, RBAC "cannot list
//! resource", serverca/JWT authentication failures) in every shape Istio has written them. Pure: the
//! scanner takes byte blocks; reading files, stdin and pod log streams is the caller's job.

pub mod line;
pub mod scan;
pub mod signature;

pub use line::{Level, LineFormat, LogLine, format_micros, parse_line, parse_rfc3339};
pub use scan::{
    Anchors, LineBuffer, Sample, Scanner, SignatureStats, SourceStats, Tally, host_of, jwt_hint_name, scan_bytes,
    tls_reason_name,
};
pub use signature::{
    AuthMatch, AuthenticatorError, Classified, ForbiddenMatch, JwtHint, SignatureKind, TlsMatch, TlsReason, classify,
};
