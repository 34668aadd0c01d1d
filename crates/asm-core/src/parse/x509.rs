//! X.509 certificates as the mesh uses them: PEM bundles in, plain summaries out (subject, issuer, SANs,
//! validity as Unix seconds, SHA-256 fingerprint), so checks can compare and judge without holding openssl types.

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::x509::{X509, X509NameRef};
use serde::Serialize;

/// Why bytes that should hold certificates do not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("empty")]
    Empty,
    #[error("no PEM certificate block (-----BEGIN CERTIFICATE-----) found")]
    NoCertificate,
    #[error("a PEM certificate block does not parse as X.509: {0}")]
    Invalid(String),
}

/// A certificate summarised for findings and JSON output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    pub uri_sans: Vec<String>,
    pub dns_sans: Vec<String>,
    pub sha256: String,
    pub key: String,
}

/// Parse every certificate in a PEM bundle, in order.
pub fn parse_pem_bundle(bytes: &[u8]) -> Result<Vec<X509>, PemError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(PemError::Empty);
    }
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    if !bytes.windows(BEGIN.len()).any(|w| w == BEGIN) {
        return Err(PemError::NoCertificate);
    }
    let certs = X509::stack_from_pem(bytes).map_err(|e| PemError::Invalid(first_openssl_reason(&e)))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate);
    }
    Ok(certs)
}

fn first_openssl_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors().first().and_then(|e| e.reason().map(str::to_owned)).unwrap_or_else(|| e.to_string())
}

/// `O=cluster.local, CN=...` in openssl's one-line order.
pub fn name_to_string(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let val = e.data().to_string().unwrap_or_default();
            format!("{key}={val}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first value of one attribute (`Nid::ORGANIZATIONNAME`, `Nid::COMMONNAME`) of a name.
pub fn name_entry(name: &X509NameRef, nid: Nid) -> Option<String> {
    name.entries_by_nid(nid).next().and_then(|e| e.data().to_string().ok())
}

/// Seconds since the Unix epoch of an ASN.1 time.
pub fn unix_seconds(t: &Asn1TimeRef) -> i64 {
    let epoch = Asn1Time::from_unix(0).expect("the epoch is a valid ASN.1 time");
    match epoch.diff(t) {
        Ok(d) => i64::from(d.days) * 86_400 + i64::from(d.secs),
        Err(_) => 0,
    }
}

pub fn summarize(cert: &X509) -> CertSummary {
    let (mut uri_sans, mut dns_sans) = (Vec::new(), Vec::new());
    if let Some(sans) = cert.subject_alt_names() {
        for san in sans.iter() {
            if let Some(u) = san.uri() {
                uri_sans.push(u.to_owned());
            }
            if let Some(d) = san.dnsname() {
                dns_sans.push(d.to_owned());
            }
        }
    }
    let key = match cert.public_key() {
        Ok(k) => {
            let kind = match k.id() {
                openssl::pkey::Id::RSA => "RSA",
                openssl::pkey::Id::EC => "EC",
                openssl::pkey::Id::ED25519 => "Ed25519",
                openssl::pkey::Id::DSA => "DSA",
                _ => "other",
            };
            format!("{kind} {} bits", k.bits())
        }
        Err(_) => "unknown".into(),
    };
    CertSummary {
        subject: name_to_string(cert.subject_name()),
        issuer: name_to_string(cert.issuer_name()),
        serial: cert.serial_number().to_bn().and_then(|b| b.to_hex_str().map(|s| s.to_string())).unwrap_or_default(),
        not_before: unix_seconds(cert.not_before()),
        not_after: unix_seconds(cert.not_after()),
        is_ca: is_ca(cert),
        uri_sans,
        dns_sans,
        sha256: fingerprint(cert),
        key,
    }
}

/// Hex SHA-256 of the DER encoding: the identity used to compare roots across sources and clusters.
pub fn fingerprint(cert: &X509) -> String {
    cert.digest(MessageDigest::sha256()).map(|d| d.iter().map(|b| format!("{b:02x}")).collect()).unwrap_or_default()
}

/// Whether the basicConstraints extension marks the certificate as a CA. openssl-rs exposes no getter, so read
/// it from the text form openssl itself prints.
pub fn is_ca(cert: &X509) -> bool {
    cert.to_text().map(|t| String::from_utf8_lossy(&t).contains("CA:TRUE")).unwrap_or(false)
}

/// Whether `cert` carries a valid signature by `issuer`'s key.
pub fn signed_by(cert: &X509, issuer: &X509) -> bool {
    issuer.public_key().and_then(|k| cert.verify(&k)).unwrap_or(false)
}

/// Human "in 3d 4h" / "5d ago" relative to `now`.
pub fn relative(t: i64, now: i64) -> String {
    let d = t - now;
    let a = d.unsigned_abs();
    let text = if a >= 86_400 {
        format!("{}d{}h", a / 86_400, (a % 86_400) / 3600)
    } else if a >= 3600 {
        format!("{}h{}m", a / 3600, (a % 3600) / 60)
    } else {
        format!("{}m", a / 60)
    };
    if d >= 0 { format!("in {text}") } else { format!("{text} ago") }
}

/// RFC 3339 UTC for a Unix time, for evidence lines.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}
