//! Reaching a port inside a pod through the API server's port-forward, the way `kubectl port-forward` does,
//! so checks can read a proxy's admin interface or istiod's serving certificate without exec and without
//! any tool inside the image.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::{Cluster, ClusterError};

/// Cap on a response read through a port-forward (an Envoy config dump can be a few MiB).
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

/// An open port-forward stream; the forwarder is aborted when this is dropped.
pub struct ForwardedPort {
    pub stream: DuplexStream,
    forwarder: kube::api::Portforwarder,
}

impl Drop for ForwardedPort {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

/// Open one connection to `port` of a pod.
pub async fn open(
    cluster: &Cluster,
    namespace: &str,
    pod: &str,
    port: u16,
) -> Result<ForwardedPort, ClusterError> {
    let (stream, forwarder) = open_raw(cluster, namespace, pod, port).await?;
    Ok(ForwardedPort { stream, forwarder })
}

async fn open_raw(
    cluster: &Cluster,
    namespace: &str,
    pod: &str,
    port: u16,
) -> Result<(DuplexStream, kube::api::Portforwarder), ClusterError> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let mut forwarder = pods.portforward(pod, &[port]).await.map_err(|e| {
        ClusterError::from_kube(
            &cluster.context,
            "create",
            "pods/portforward",
            Some(namespace),
            e,
        )
    })?;
    let stream = forwarder
        .take_stream(port)
        .ok_or_else(|| ClusterError::Api {
            context: cluster.context.clone(),
            what: format!("port-forward to {namespace}/{pod}:{port}"),
            message: "the API server opened no stream for the port".into(),
        })?;
    Ok((stream, forwarder))
}

/// `GET path` over a port-forward with HTTP/1.0 (the connection closes at the end of the body, so no chunked
/// decoding is needed). Returns the status code and body.
pub async fn http_get(
    cluster: &Cluster,
    namespace: &str,
    pod: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), ClusterError> {
    let what = format!("GET http://{pod}.{namespace}:{port}{path} through port-forward");
    let run = async {
        let mut fwd = open(cluster, namespace, pod, port).await?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: kubectl-asm\r\nConnection: close\r\n\r\n"
        );
        let io = |e: std::io::Error| ClusterError::Api {
            context: cluster.context.clone(),
            what: what.clone(),
            message: e.to_string(),
        };
        fwd.stream.write_all(req.as_bytes()).await.map_err(io)?;
        let mut raw = Vec::new();
        (&mut fwd.stream)
            .take(MAX_RESPONSE)
            .read_to_end(&mut raw)
            .await
            .map_err(io)?;
        split_http_response(&raw).ok_or_else(|| ClusterError::Api {
            context: cluster.context.clone(),
            what: what.clone(),
            message: format!("not an HTTP response ({} bytes)", raw.len()),
        })
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| ClusterError::Timeout {
            context: cluster.context.clone(),
            what: what.clone(),
            after: timeout,
        })?
}

fn split_http_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, raw[head_end + 4..].to_vec()))
}

/// The certificate chain a TLS server in a pod presents (leaf first), read with a handshake over a
/// port-forward. Verification is off on purpose: the point is to see what is served, trusted or not.
pub async fn tls_peer_chain(
    cluster: &Cluster,
    namespace: &str,
    pod: &str,
    port: u16,
    server_name: &str,
    timeout: Duration,
) -> Result<Vec<X509>, ClusterError> {
    let what = format!("TLS handshake with {namespace}/{pod}:{port} through port-forward");
    let err = |message: String| ClusterError::Api {
        context: cluster.context.clone(),
        what: what.clone(),
        message,
    };
    let run = async {
        let (stream, forwarder) = open_raw(cluster, namespace, pod, port).await?;
        let mut builder =
            SslConnector::builder(SslMethod::tls_client()).map_err(|e| err(e.to_string()))?;
        builder.set_verify(SslVerifyMode::NONE);
        let ssl = builder
            .build()
            .configure()
            .and_then(|c| c.verify_hostname(false).into_ssl(server_name))
            .map_err(|e| err(e.to_string()))?;
        let mut tls = tokio_openssl::SslStream::new(ssl, stream).map_err(|e| err(e.to_string()))?;
        let handshake = std::pin::Pin::new(&mut tls).connect().await;
        let chain: Vec<X509> = tls
            .ssl()
            .peer_cert_chain()
            .map(|s| s.iter().map(|c| c.to_owned()).collect())
            .unwrap_or_default();
        forwarder.abort();
        match (handshake, chain.is_empty()) {
            (_, false) => Ok(chain),
            (Err(e), true) => Err(err(format!(
                "handshake failed before a certificate was shown: {e}"
            ))),
            (Ok(()), true) => Err(err("the server presented no certificate".into())),
        }
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| ClusterError::Timeout {
            context: cluster.context.clone(),
            what: what.clone(),
            after: timeout,
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_status_and_body() {
        let (s, b) =
            split_http_response(b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\n{\"a\":1}").unwrap();
        assert_eq!(s, 200);
        assert_eq!(b, b"{\"a\":1}");
        assert!(split_http_response(b"garbage").is_none());
    }
}
