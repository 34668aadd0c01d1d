//! The one catalog of check ids. An id is a public name users script against: once released it is never
//! renamed or reused; a retired check keeps its row with `retired: true`.

use serde::{Deserialize, Serialize};

macro_rules! catalog {
    ($( $variant:ident => $id:literal, $section:literal, $title:literal; )*) => {
        /// A stable, dotted check id (`tls.plaintext`, `certs.chain`, ...).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CheckId { $( $variant ),* }

        /// Every check id with the runbook section it automates.
        pub const CATALOG: &[CheckInfo] = &[
            $( CheckInfo { id: CheckId::$variant, name: $id, runbook_section: $section, title: $title } ),*
        ];

        impl CheckId {
            pub fn as_str(self) -> &'static str {
                match self { $( CheckId::$variant => $id ),* }
            }

            pub fn from_name(name: &str) -> Option<CheckId> {
                match name { $( $id => Some(CheckId::$variant), )* _ => None }
            }
        }
    };
}

catalog! {
    TlsPlaintext => "tls.plaintext", "Verify TLS enforcement", "plain-text request to a service is rejected";
    TlsWebhookCaBundle => "tls.webhook-ca-bundle", "TLS bad certificate errors in the Istiod logs", "sidecar injector caBundle is present, valid and matches istiod's CA";
    TlsMtlsMode => "tls.mtls-mode", "(beyond the runbook)", "effective PeerAuthentication mode per workload and port";
    TlsIstiodRestart => "tls.istiod-restart", "TLS bad certificate errors in the Istiod logs", "istiod restarted to re-patch the caBundle";
    CertsXfcc => "certs.xfcc", "Check mTLS certificates", "X-Forwarded-Client-Cert shows the caller's SPIFFE identity";
    CertsChain => "certs.chain", "Check mTLS certificates", "certificate chain is complete and every link verifies";
    CertsRoot => "certs.root", "Check mTLS certificates", "the chain's root CA is named and matches istio-ca-root-cert";
    CertsExpiry => "certs.expiry", "Check mTLS certificates", "certificates are valid now and beyond the warning threshold";
    CertsRootConsistency => "certs.root-consistency", "(beyond the runbook)", "all clusters and namespaces trust the same root and trust domain";
    AuthzEnforced => "authz.enforced", "Authorization policies are not enforced", "requests are denied by the proxy as the policies say";
    AuthzDenials => "authz.denials", "Authorization policy denial logging", "denials mapped back to the policy and rule";
    AuthzDenyNamespace => "authz.deny-namespace", "Authorization policies are not enforced", "deny-everything policy for a namespace";
    AuthzPolicies => "authz.policies", "(beyond the runbook)", "AuthorizationPolicies applying to a workload, in evaluation order";
    LogsTlsBadCertificate => "logs.tls-bad-certificate", "TLS bad certificate errors in the Istiod logs", "istiod logs TLS handshake errors with a bad certificate";
    LogsRbacForbidden => "logs.rbac-forbidden", "' is forbidden' error in Istiod logs", "istiod logs 'cannot list resource' errors";
    LogsServercaAuth => "logs.serverca-auth", "serverca process errors in Istiod logs", "istiod's CA server logs JWT authentication failures";
    LogsSources => "logs.sources", "(beyond the runbook)", "istiod log sources found and read";
}

/// A row of the catalog, documented in docs/output.md.
#[derive(Debug, Clone, Copy)]
pub struct CheckInfo {
    pub id: CheckId,
    pub name: &'static str,
    pub runbook_section: &'static str,
    pub title: &'static str,
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        CheckId::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown check id {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_dotted_and_round_trip() {
        let mut seen = HashSet::new();
        for info in CATALOG {
            assert!(seen.insert(info.name), "duplicate id {}", info.name);
            let (plugin, rest) = info.name.split_once('.').expect("dotted id");
            assert!(["tls", "certs", "authz", "logs"].contains(&plugin), "{}", info.name);
            assert!(!rest.is_empty() && rest.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert_eq!(CheckId::from_name(info.name), Some(info.id));
            assert_eq!(info.id.as_str(), info.name);
        }
    }
}
