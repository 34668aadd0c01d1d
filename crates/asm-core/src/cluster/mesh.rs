//! Gathering the control plane's trust material: the sidecar injector webhooks with their caBundles, and
//! istiod's CA as the cluster publishes it (the istio-ca-root-cert ConfigMap) and as istiod serves it (its
//! webhook serving certificate, read over a port-forward). Shared by `asm-tls webhook` and `asm-logs scan`.

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

use super::{Cluster, ClusterError, portforward, services};
use crate::checks::tls::webhook::{InjectorWebhook, IstiodCa, WebhookSnapshot};
use crate::parse::x509::parse_pem_bundle;

/// Whether a webhook configuration is a sidecar injector: by its webhooks' names (`*.sidecar-injector.istio.io`)
/// or by the names istio's charts give the configuration (default and revisioned installs, revision tags).
pub fn is_injector(mwc: &MutatingWebhookConfiguration) -> bool {
    let name = mwc.metadata.name.as_deref().unwrap_or_default();
    name.starts_with("istio-sidecar-injector")
        || name.starts_with("istio-revision-tag-")
        || mwc.webhooks.iter().flatten().any(|w| w.name.ends_with("sidecar-injector.istio.io"))
}

/// Every webhook of every sidecar-injector configuration, optionally only one revision's.
pub async fn injector_webhooks(
    cluster: &Cluster,
    revision: Option<&str>,
) -> Result<Vec<InjectorWebhook>, ClusterError> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(cluster.client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "list", "mutatingwebhookconfigurations", None, e))?;
    let mut out = Vec::new();
    for mwc in list.items.iter().filter(|m| is_injector(m)) {
        let rev = mwc.metadata.labels.as_ref().and_then(|l| l.get("istio.io/rev").cloned());
        if revision.is_some_and(|r| rev.as_deref().unwrap_or("default") != r) {
            continue;
        }
        for w in mwc.webhooks.iter().flatten() {
            let cc = &w.client_config;
            let endpoint = match (&cc.service, &cc.url) {
                (Some(s), _) => format!(
                    "service {}/{}:{}{}",
                    s.namespace,
                    s.name,
                    s.port.unwrap_or(443),
                    s.path.as_deref().unwrap_or("")
                ),
                (None, Some(url)) => url.clone(),
                (None, None) => "(no clientConfig)".into(),
            };
            out.push(InjectorWebhook {
                configuration: mwc.metadata.name.clone().unwrap_or_default(),
                webhook: w.name.clone(),
                ca_bundle: cc.ca_bundle.as_ref().map(|b| b.0.clone()),
                endpoint,
                revision: rev.clone(),
                service: cc.service.as_ref().map(|s| {
                    (s.namespace.clone(), s.name.clone(), u16::try_from(s.port.unwrap_or(443)).unwrap_or(443))
                }),
            });
        }
    }
    Ok(out)
}

/// istiod's CA as published in `istio_namespace`'s istio-ca-root-cert ConfigMap.
pub async fn published_root(cluster: &Cluster, istio_namespace: &str) -> Result<IstiodCa, ClusterError> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), istio_namespace);
    let source = format!("ConfigMap {istio_namespace}/istio-ca-root-cert");
    let cm = api
        .get_opt("istio-ca-root-cert")
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "get", "configmaps", Some(istio_namespace), e))?;
    let pem = cm.and_then(|c| c.data).and_then(|d| d.get("root-cert.pem").cloned());
    let roots = pem.as_deref().map(|p| parse_pem_bundle(p.as_bytes()).unwrap_or_default()).unwrap_or_default();
    Ok(IstiodCa { roots_source: source, roots, ..Default::default() })
}

/// Add istiod's live serving chain, fetched from the pod behind the webhook's Service over a port-forward.
/// Failure is not an error for the caller: the published root still allows a comparison.
pub async fn add_serving_chain(
    cluster: &Cluster,
    ca: &mut IstiodCa,
    service: (&str, &str, u16),
    timeout: Duration,
) -> Result<(), ClusterError> {
    let (ns, name, port) = service;
    let backends = services::service_backends(cluster, ns, name).await?;
    let pod = backends
        .pods
        .iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .ok_or_else(|| ClusterError::NotFound {
            context: cluster.context.clone(),
            kind: "running pod of service".into(),
            name: name.into(),
            namespace: Some(ns.into()),
        })?;
    let target = backends.target_port(port, pod).and_then(|p| u16::try_from(p).ok()).unwrap_or(15017);
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let sni = format!("{name}.{ns}.svc");
    ca.serving_chain = portforward::tls_peer_chain(cluster, ns, &pod_name, target, &sni, timeout).await?;
    ca.serving_source = format!("pod {ns}/{pod_name} port {target}");
    Ok(())
}

/// A webhook's Service as (namespace, name, port).
type ServiceKey = (String, String, u16);

/// Gather every injector webhook with the CA it must contain: the published root, plus istiod's live serving
/// chain behind the webhook's Service when `live` (one handshake per Service). Failures to read the CA
/// become notes on the snapshot, not errors: the check still runs with what could be read.
pub async fn injector_snapshot(
    cluster: &Cluster,
    revision: Option<&str>,
    istio_namespace: &str,
    live: bool,
) -> Result<Vec<WebhookSnapshot>, ClusterError> {
    let webhooks = injector_webhooks(cluster, revision).await?;
    let published = published_root(cluster, istio_namespace).await;
    let base = published.as_ref().map(Clone::clone).unwrap_or_default();
    let mut serving: Vec<(ServiceKey, Result<IstiodCa, String>)> = Vec::new();
    let mut index_in_config = std::collections::HashMap::<String, usize>::new();
    let mut out = Vec::new();
    for w in webhooks {
        let mut ca = base.clone();
        let mut notes = Vec::new();
        if let Err(e) = &published {
            notes.push(format!("istiod's published root could not be read: {e}"));
        }
        if let (Some(svc), true) = (&w.service, live) {
            if !serving.iter().any(|(k, _)| k == svc) {
                let mut with_live = base.clone();
                let r = add_serving_chain(cluster, &mut with_live, (&svc.0, &svc.1, svc.2), cluster.timeout)
                    .await
                    .map(|()| with_live)
                    .map_err(|e| e.to_string());
                serving.push((svc.clone(), r));
            }
            match serving.iter().find(|(k, _)| k == svc).map(|(_, r)| r) {
                Some(Ok(with_live)) => ca = with_live.clone(),
                Some(Err(e)) => notes.push(format!(
                    "istiod's live serving certificate could not be read ({e}); compared with the published root only"
                )),
                None => {}
            }
        }
        let index = index_in_config.entry(w.configuration.clone()).or_default();
        out.push(WebhookSnapshot { webhook: w, ca, notes, index: *index });
        *index += 1;
    }
    Ok(out)
}
