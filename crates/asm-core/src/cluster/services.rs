//! A Service as a probe destination: its pods (by selector) and the container port a Service port lands
//! on, which is the port PeerAuthentication's portLevelMtls is keyed by.

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};

use super::{Cluster, ClusterError};
use crate::model::ServiceRef;

/// A Service and the pods behind it.
#[derive(Debug, Clone)]
pub struct Backends {
    pub service: Service,
    pub pods: Vec<Pod>,
}

pub async fn service_backends(cluster: &Cluster, namespace: &str, name: &str) -> Result<Backends, ClusterError> {
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), namespace);
    let service = services
        .get_opt(name)
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "get", "services", Some(namespace), e))?
        .ok_or_else(|| ClusterError::NotFound {
            context: cluster.context.clone(),
            kind: "service".into(),
            name: name.into(),
            namespace: Some(namespace.into()),
        })?;
    let selector = service.spec.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default();
    let pods = if selector.is_empty() {
        Vec::new()
    } else {
        let sel = selector.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
        api.list(&ListParams::default().labels(&sel))
            .await
            .map_err(|e| ClusterError::from_kube(&cluster.context, "list", "pods", Some(namespace), e))?
            .items
    };
    Ok(Backends { service, pods })
}

impl Backends {
    /// The Service's first port, used when the user gave none.
    pub fn first_port(&self) -> Option<u16> {
        self.service.spec.as_ref()?.ports.as_ref()?.first().and_then(|p| u16::try_from(p.port).ok())
    }

    /// The container port that `service_port` targets on `pod` (named target ports resolved through the
    /// pod's container ports).
    pub fn target_port(&self, service_port: u16, pod: &Pod) -> Option<u32> {
        let sp = self.service.spec.as_ref()?.ports.as_ref()?.iter().find(|p| p.port == i32::from(service_port))?;
        match &sp.target_port {
            None => Some(u32::from(service_port)),
            Some(IntOrString::Int(n)) => u32::try_from(*n).ok(),
            Some(IntOrString::String(name)) => pod
                .spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u32::try_from(p.container_port).ok()),
        }
    }
}

/// Where a probe goes: the Service's namespace (the source's when not given, as the pod's resolver would
/// search), its backends, and the port (given, else the Service's first, else 80). A missing Service is kept
/// as an error value: it is evidence, not a reason to skip the probe.
#[derive(Debug)]
pub struct Destination {
    pub namespace: String,
    pub backends: Result<Backends, ClusterError>,
    pub port: u16,
}

pub async fn probe_destination(cluster: &Cluster, dst: &ServiceRef, source_namespace: &str) -> Destination {
    let namespace = dst.namespace.clone().unwrap_or_else(|| source_namespace.to_owned());
    let backends = service_backends(cluster, &namespace, &dst.name).await;
    let port = dst.port.or_else(|| backends.as_ref().ok().and_then(Backends::first_port)).unwrap_or(80);
    Destination { namespace, backends, port }
}

/// Whether a pod runs an Istio sidecar, as a container or as a native sidecar (init container).
pub fn has_sidecar(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|s| {
        s.containers.iter().any(|c| c.name == "istio-proxy")
            || s.init_containers.iter().flatten().any(|c| c.name == "istio-proxy")
    })
}
