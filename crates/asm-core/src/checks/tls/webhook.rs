//! The sidecar injector's `caBundle`: the API server trusts istiod's webhook only through it, so an empty,
//! stale or foreign bundle breaks injection and fills istiod's log with "TLS handshake error ... bad
//! certificate". Each webhook is judged on its own: present, decodes, parses as X.509, valid now, and
//! containing the CA that signs istiod's serving certificate.

use openssl::x509::X509;
use serde_json::json;

use crate::model::{CheckId, Finding, KubectlCommand, Status};
use crate::parse::x509::{PemError, fingerprint, parse_pem_bundle, relative, rfc3339, signed_by, summarize};

/// One webhook entry of a sidecar-injector MutatingWebhookConfiguration.
#[derive(Debug, Clone)]
pub struct InjectorWebhook {
    pub configuration: String,
    pub webhook: String,
    /// `clientConfig.caBundle` as the API returns it (already base64-decoded); `None` when absent.
    pub ca_bundle: Option<Vec<u8>>,
    /// `clientConfig.service` as `namespace/name:port/path`, or the URL.
    pub endpoint: String,
    /// The istio.io/rev label, when the configuration belongs to a revision.
    pub revision: Option<String>,
    /// `clientConfig.service` as (namespace, name, port), to find the istiod that serves it.
    pub service: Option<(String, String, u16)>,
}

/// What istiod's serving certificate must chain to.
#[derive(Debug, Clone, Default)]
pub struct IstiodCa {
    /// Where the roots came from, for evidence (`ConfigMap istio-system/istio-ca-root-cert`).
    pub roots_source: String,
    pub roots: Vec<X509>,
    /// istiod's live serving chain (leaf first), when it could be fetched.
    pub serving_chain: Vec<X509>,
    pub serving_source: String,
}

/// Judge one webhook. `now` and `warn_within` are Unix seconds.
pub fn check(w: &InjectorWebhook, ca: &IstiodCa, now: i64, warn_within: i64, context: &str) -> Finding {
    // CONFIGURATION/WEBHOOK: a configuration holds several webhooks, each with its own caBundle.
    let target = format!("{}/{}", w.configuration, w.webhook);
    let f = Finding::new(CheckId::TlsWebhookCaBundle, context, target);
    let bytes = match &w.ca_bundle {
        Some(b) if !b.iter().all(u8::is_ascii_whitespace) => b,
        _ => {
            return f
                .status(Status::Fail, "caBundle is empty: the API server cannot verify istiod's webhook certificate")
                .evidence(format!("clientConfig.caBundle of {} is empty or missing", w.webhook))
                .data(json!({"webhook": w.webhook, "configuration": w.configuration, "problem": "empty"}));
        }
    };
    let certs = match parse_pem_bundle(bytes) {
        Ok(c) => c,
        Err(e) => {
            let problem = match e {
                PemError::Empty => "empty",
                PemError::NoCertificate => "not-pem",
                PemError::Invalid(_) => "not-x509",
            };
            return f
                .status(Status::Fail, format!("caBundle does not hold a usable certificate: {e}"))
                .evidence(format!("{} bytes after base64 decoding; {e}", bytes.len()))
                .data(json!({"webhook": w.webhook, "configuration": w.configuration, "problem": problem}));
        }
    };
    let summaries: Vec<_> = certs.iter().map(summarize).collect();
    let mut f = f.data(json!({
        "webhook": w.webhook, "configuration": w.configuration, "endpoint": w.endpoint,
        "revision": w.revision, "certificates": summaries,
    }));
    for s in &summaries {
        f = f.evidence(format!(
            "caBundle cert {} (sha256 {}…) valid until {}",
            s.subject,
            &s.sha256[..16],
            rfc3339(s.not_after)
        ));
    }

    if let Some(s) = summaries.iter().find(|s| s.not_after < now) {
        return f.status(
            Status::Fail,
            format!("caBundle certificate {} expired {}", s.subject, relative(s.not_after, now)),
        );
    }
    if let Some(s) = summaries.iter().find(|s| s.not_before > now) {
        return f.status(
            Status::Fail,
            format!("caBundle certificate {} is not valid until {}", s.subject, rfc3339(s.not_before)),
        );
    }

    let root_prints: Vec<String> = ca.roots.iter().map(fingerprint).collect();
    let in_roots = certs.iter().any(|c| root_prints.contains(&fingerprint(c)));
    let signs_serving = ca
        .serving_chain
        .first()
        .map(|leaf| certs.iter().any(|c| signed_by(leaf, c) || certs_chain(leaf, &ca.serving_chain, c)));
    match (signs_serving, in_roots, ca.roots.is_empty()) {
        (Some(true), _, _) => {
            f = f.evidence(format!(
                "istiod's serving certificate from {} verifies against this caBundle",
                ca.serving_source
            ));
        }
        (Some(false), _, _) => {
            return f
                .status(Status::Fail, "caBundle does not contain the CA that signs istiod's serving certificate")
                .evidence(format!(
                    "istiod's serving certificate ({}) does not verify against any caBundle certificate",
                    ca.serving_source
                ));
        }
        (None, true, _) => {
            f = f.evidence(format!("caBundle contains the root from {}", ca.roots_source));
        }
        (None, false, false) => {
            return f
                .status(Status::Fail, format!("caBundle does not match istiod's CA root ({})", ca.roots_source))
                .evidence(format!(
                    "{} root sha256 {}…",
                    ca.roots_source,
                    root_prints.first().map(|p| &p[..16]).unwrap_or("")
                ));
        }
        (None, false, true) => {
            return f
                .status(Status::Warn, "caBundle parses and is valid, but istiod's CA could not be read to compare it");
        }
    }
    if let Some(s) = summaries.iter().find(|s| s.not_after - now < warn_within) {
        return f.status(
            Status::Warn,
            format!("caBundle matches istiod's CA but {} expires {}", s.subject, relative(s.not_after, now)),
        );
    }
    f.status(Status::Pass, "caBundle is present, valid and matches istiod's CA")
}

/// The leaf may be signed by an intermediate that is in the served chain and signed by `anchor`.
fn certs_chain(leaf: &X509, chain: &[X509], anchor: &X509) -> bool {
    chain.iter().skip(1).any(|mid| signed_by(leaf, mid) && signed_by(mid, anchor))
}

/// One webhook as gathered from a cluster, with the CA it must contain and how that CA was obtained: the
/// snapshot the caBundle checks run against.
#[derive(Debug, Clone)]
pub struct WebhookSnapshot {
    pub webhook: InjectorWebhook,
    pub ca: IstiodCa,
    /// Why the reference is weaker than it could be (published root unreadable, live certificate unreachable).
    pub notes: Vec<String>,
    /// The webhook's position in its configuration, for the runbook's `.webhooks[N]` command.
    pub index: usize,
}

/// The runbook's step-2 command for one webhook, with the resource type the runbook's text leaves out.
pub fn ca_bundle_command(base: KubectlCommand, configuration: &str, index: usize) -> String {
    base.args([
        "get".to_owned(),
        "mutatingwebhookconfiguration".to_owned(),
        configuration.to_owned(),
        format!("-o=jsonpath={{.webhooks[{index}].clientConfig.caBundle}}"),
    ])
    .render()
}

pub fn restart_command(base: KubectlCommand, namespace: &str, deployment: &str) -> String {
    base.args(["rollout", "restart", &format!("deployment/{deployment}"), "-n", namespace]).render()
}

/// istiod's Deployment is named after the webhook's Service (`istiod`, `istiod-REV`).
pub fn deployment_for(service: Option<&(String, String, u16)>, revision: Option<&str>) -> String {
    match (service, revision) {
        (Some((_, name, _)), _) if name.starts_with("istiod") => name.clone(),
        (_, Some(rev)) if rev != "default" => format!("istiod-{rev}"),
        _ => "istiod".into(),
    }
}

/// Judge every webhook of a snapshot; none at all is an error finding (the injector is missing or unreadable).
/// `kubectl` makes the base command with the user's kubeconfig and this context.
pub fn check_all(
    snapshot: &[WebhookSnapshot],
    now: i64,
    warn_within: i64,
    context: &str,
    istio_namespace: &str,
    kubectl: impl Fn() -> KubectlCommand,
) -> Vec<Finding> {
    if snapshot.is_empty() {
        return vec![
            Finding::new(CheckId::TlsWebhookCaBundle, context, "mutatingwebhookconfigurations")
                .status(Status::Error, "no sidecar-injector MutatingWebhookConfiguration found")
                .command(kubectl().args(["get", "mutatingwebhookconfigurations"]).render())
                .remediation("check that Istio / Cloud Service Mesh is installed in this cluster and that you may list mutatingwebhookconfigurations; reinstall the control plane (istioctl install or your installation method) to recreate the injector"),
        ];
    }
    snapshot
        .iter()
        .map(|s| {
            let w = &s.webhook;
            let mut f = check(w, &s.ca, now, warn_within, context).command(ca_bundle_command(kubectl(), &w.configuration, s.index));
            for n in &s.notes {
                f = f.evidence(n.clone());
            }
            if matches!(f.status, Status::Fail | Status::Warn) {
                let deployment = deployment_for(w.service.as_ref(), w.revision.as_deref());
                let ns = w.service.as_ref().map(|s| s.0.as_str()).unwrap_or(istio_namespace);
                f = f
                    .remediation(format!(
                        "restart istiod so it re-patches the caBundle: {} (or kubectl asm-tls webhook --fix)",
                        restart_command(kubectl(), ns, &deployment)
                    ))
                    .remediation("if it comes back wrong, something re-applies the webhook configuration (a GitOps tool, a reapplied manifest): remove caBundle from that source so istiod owns it");
            }
            f
        })
        .collect()
}
