//! A sidecar's certificates read from Envoy's admin interface, for proxies without openssl and for
//! operators who may not exec. `/config_dump?resource=dynamic_active_secrets` gives the real PEM of the SDS
//! secrets Istio pushes (`default`: the workload chain, `ROOTCA`: the trusted roots), which can be verified;
//! `/certs` gives only summaries, so it is the fallback.

use openssl::x509::X509;
use serde::Serialize;

use crate::parse::x509::parse_pem_bundle;

/// What the secrets dump holds.
#[derive(Debug, Clone, Default)]
pub struct AdminSecrets {
    /// The `default` secret's certificate chain, leaf first.
    pub chain: Vec<X509>,
    /// The `ROOTCA` secret's trusted CA.
    pub roots: Vec<X509>,
}

/// One certificate as `/certs` summarises it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminCertSummary {
    pub role: String,
    pub serial_number: String,
    pub subject_alt_names: Vec<String>,
    pub days_until_expiration: Option<i64>,
    pub valid_from: Option<String>,
    pub expiration_time: Option<String>,
}

fn pem_of(data_source: &serde_json::Value) -> Option<Vec<u8>> {
    use base64::Engine;
    if let Some(b) = data_source.get("inline_bytes").and_then(|v| v.as_str()) {
        return base64::engine::general_purpose::STANDARD.decode(b).ok();
    }
    data_source.get("inline_string").and_then(|v| v.as_str()).map(|s| s.as_bytes().to_vec())
}

/// Read `/config_dump?resource=dynamic_active_secrets` (or a whole config dump's SecretsConfigDump).
pub fn parse_secrets_dump(body: &str) -> Result<AdminSecrets, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the secrets config dump is not JSON: {e}"))?;
    let mut secrets: Vec<&serde_json::Value> = Vec::new();
    let configs = v.get("configs").and_then(|c| c.as_array());
    for c in configs.into_iter().flatten() {
        if c.get("secret").is_some() {
            secrets.push(c);
        }
        // A full config dump nests them under SecretsConfigDump.dynamic_active_secrets.
        for s in c.get("dynamic_active_secrets").and_then(|d| d.as_array()).into_iter().flatten() {
            secrets.push(s);
        }
    }
    let mut out = AdminSecrets::default();
    for s in secrets {
        let name = s.get("name").and_then(|n| n.as_str()).unwrap_or_default();
        let secret = &s["secret"];
        if let Some(pem) = pem_of(&secret["tls_certificate"]["certificate_chain"])
            && (name == "default" || out.chain.is_empty())
        {
            out.chain = parse_pem_bundle(&pem).map_err(|e| format!("secret {name}: certificate_chain: {e}"))?;
        }
        if let Some(pem) = pem_of(&secret["validation_context"]["trusted_ca"]) {
            out.roots = parse_pem_bundle(&pem).map_err(|e| format!("secret {name}: trusted_ca: {e}"))?;
        }
    }
    if out.chain.is_empty() && out.roots.is_empty() {
        return Err("the secrets dump has no certificate (no dynamic_active_secrets with inline PEM): the proxy may not have received its certificate yet".into());
    }
    Ok(out)
}

/// Read `/certs`: the summaries of every certificate context, deduplicated by serial number.
pub fn parse_certs_endpoint(body: &str) -> Result<Vec<AdminCertSummary>, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("/certs is not JSON: {e}"))?;
    let contexts = v.get("certificates").and_then(|c| c.as_array()).ok_or("/certs has no \"certificates\" list")?;
    let mut out: Vec<AdminCertSummary> = Vec::new();
    for ctx in contexts {
        for (key, role) in [("cert_chain", "cert_chain"), ("ca_cert", "ca_cert")] {
            for c in ctx.get(key).and_then(|c| c.as_array()).into_iter().flatten() {
                let serial = c["serial_number"].as_str().unwrap_or_default().to_owned();
                if out.iter().any(|o| o.serial_number == serial && o.role == role) {
                    continue;
                }
                let sans = c["subject_alt_names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_object())
                    .flat_map(|o| o.values().filter_map(|v| v.as_str().map(str::to_owned)))
                    .collect();
                out.push(AdminCertSummary {
                    role: role.into(),
                    serial_number: serial,
                    subject_alt_names: sans,
                    days_until_expiration: c["days_until_expiration"]
                        .as_str()
                        .and_then(|d| d.parse().ok())
                        .or_else(|| c["days_until_expiration"].as_i64()),
                    valid_from: c["valid_from"].as_str().map(str::to_owned),
                    expiration_time: c["expiration_time"].as_str().map(str::to_owned),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::x509::summarize;

    fn read(name: &str) -> String {
        crate::test_support::fixture("certs", name)
    }

    #[test]
    fn secrets_dump_gives_real_pem() {
        let s = parse_secrets_dump(&read("admin-secrets-istiod.json")).unwrap();
        assert_eq!(s.chain.len(), 2);
        assert_eq!(s.roots.len(), 1);
        assert_eq!(summarize(&s.chain[0]).uri_sans, vec!["spiffe://cluster.local/ns/sample/sa/httpbin"]);
        let m = parse_secrets_dump(&read("admin-secrets-meshca.json")).unwrap();
        assert_eq!(m.chain.len(), 3);
    }

    #[test]
    fn certs_endpoint_summaries() {
        let c = parse_certs_endpoint(&read("admin-certs-istiod.json")).unwrap();
        let leaf = c.iter().find(|c| c.role == "cert_chain").unwrap();
        assert_eq!(leaf.subject_alt_names, vec!["spiffe://cluster.local/ns/sample/sa/httpbin"]);
        assert!(leaf.expiration_time.is_some());
        // Two TLS contexts carry the same certificates; they are listed once.
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn bad_dumps_are_errors() {
        assert!(parse_secrets_dump("{").is_err());
        assert!(parse_secrets_dump(r#"{"configs": []}"#).is_err());
        assert!(parse_certs_endpoint(r#"{"x": 1}"#).is_err());
        let text = read("admin-secrets-istiod.json");
        for cut in (0..text.len()).step_by(97) {
            let _ = parse_secrets_dump(&text[..cut]);
        }
    }
}
