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
pub async fn open(cluster: &Cluster, namespace: &str, pod: &str, port: u16) -> Result<ForwardedPort, ClusterError> {
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
    let mut forwarder = pods
        .portforward(pod, &[port])
        .await
        .map_err(|e| ClusterError::from_kube(&cluster.context, "create", "pods/portforward", Some(namespace), e))?;
    let stream = forwarder.take_stream(port).ok_or_else(|| ClusterError::Api {
        context: cluster.context.clone(),
        what: format!("port-forward to {namespace}/{pod}:{port}"),
        message: "the API server opened no stream for the port".into(),
    })?;
    Ok((stream, forwarder))
}

/// `GET path` over a port-forward. Returns the status code and body.
///
/// The end of the answer is found from its own framing (Content-Length or chunked), never from the stream
/// closing: a port-forward stream may stay open after the server closed its connection. kwok's tunnel, for
/// one, ends only when both directions have ended, and a port-forward stream has no half-close, so waiting
/// for EOF hangs until the timeout. HTTP/1.1 because Envoy (admin included) answers HTTP/1.0 with
/// `426 Upgrade Required` unless `accept_http_10` is set.
pub async fn http_get(
    cluster: &Cluster,
    namespace: &str,
    pod: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), ClusterError> {
    let what = format!("GET http://{pod}.{namespace}:{port}{path} through port-forward");
    let err = |message: String| ClusterError::Api { context: cluster.context.clone(), what: what.clone(), message };
    let run = async {
        let mut fwd = open(cluster, namespace, pod, port).await?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: kubectl-asm\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        fwd.stream.write_all(req.as_bytes()).await.map_err(|e| err(e.to_string()))?;
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = fwd.stream.read(&mut buf).await.map_err(|e| err(e.to_string()))?;
            raw.extend_from_slice(&buf[..n]);
            match response_progress(&raw, n == 0) {
                Progress::Done(status, body) => return Ok((status, body)),
                Progress::Bad(message) => return Err(err(message)),
                Progress::NeedMore if raw.len() as u64 > MAX_RESPONSE => {
                    return Err(err(format!("the answer is larger than {} MiB", MAX_RESPONSE / 1024 / 1024)));
                }
                Progress::NeedMore => {}
            }
        }
    };
    tokio::time::timeout(timeout, run).await.map_err(|_| ClusterError::Timeout {
        context: cluster.context.clone(),
        what: what.clone(),
        after: timeout,
    })?
}

#[derive(Debug, PartialEq, Eq)]
enum Progress {
    NeedMore,
    Done(u16, Vec<u8>),
    Bad(String),
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// Is `raw` a whole HTTP/1.x response yet (`eof`: the stream ended)? Interim 1xx answers are skipped.
/// Re-run on every read: for the sizes read here (admin dumps of a few MiB, read in 64 KiB steps) the
/// rescans cost far less than the round trips.
fn response_progress(raw: &[u8], eof: bool) -> Progress {
    let more = |why: &str| {
        if eof {
            Progress::Bad(format!("{why} ({} bytes before the stream ended)", raw.len()))
        } else {
            Progress::NeedMore
        }
    };
    let mut start = 0;
    let (status, head, body_start) = loop {
        let Some(head_end) = find(raw, b"\r\n\r\n", start) else {
            return more("not an HTTP response: no end of headers");
        };
        let Ok(head) = std::str::from_utf8(&raw[start..head_end]) else {
            return Progress::Bad("the response headers are not text".into());
        };
        let status: u16 = match head.split_whitespace().nth(1).map(str::parse) {
            Some(Ok(s)) if head.starts_with("HTTP/") => s,
            _ => {
                return Progress::Bad(format!("not an HTTP response: {:?}", head.lines().next().unwrap_or_default()));
            }
        };
        if (100..200).contains(&status) {
            start = head_end + 4;
            continue;
        }
        break (status, head, head_end + 4);
    };
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let body = &raw[body_start..];
    if status == 204 || status == 304 {
        return Progress::Done(status, Vec::new());
    }
    if header("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked")) {
        return match dechunk(body) {
            Ok(Some(b)) => Progress::Done(status, b),
            Ok(None) => more("the chunked body is incomplete"),
            Err(e) => Progress::Bad(e),
        };
    }
    if let Some(len) = header("content-length") {
        let Ok(len) = len.parse::<usize>() else {
            return Progress::Bad(format!("Content-Length {len:?} is not a number"));
        };
        return if body.len() >= len {
            Progress::Done(status, body[..len].to_vec())
        } else {
            more(&format!("the body is shorter than its Content-Length {len}"))
        };
    }
    // Neither: the body runs to the end of the connection.
    if eof { Progress::Done(status, body.to_vec()) } else { Progress::NeedMore }
}

/// The body of a chunked transfer: `Ok(None)` until the last (zero) chunk has arrived.
fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = find(rest, b"\r\n", 0) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&rest[..line_end]).map_err(|_| "a chunk size is not text")?;
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| format!("chunk size {hex:?} is not hexadecimal"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers, if any, end with an empty line; the body is complete either way.
            return Ok(Some(out));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
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
    let err = |message: String| ClusterError::Api { context: cluster.context.clone(), what: what.clone(), message };
    let run = async {
        let (stream, forwarder) = open_raw(cluster, namespace, pod, port).await?;
        let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| err(e.to_string()))?;
        builder.set_verify(SslVerifyMode::NONE);
        let ssl = builder
            .build()
            .configure()
            .and_then(|c| c.verify_hostname(false).into_ssl(server_name))
            .map_err(|e| err(e.to_string()))?;
        let mut tls = tokio_openssl::SslStream::new(ssl, stream).map_err(|e| err(e.to_string()))?;
        let handshake = std::pin::Pin::new(&mut tls).connect().await;
        let chain: Vec<X509> =
            tls.ssl().peer_cert_chain().map(|s| s.iter().map(|c| c.to_owned()).collect()).unwrap_or_default();
        forwarder.abort();
        match (handshake, chain.is_empty()) {
            (_, false) => Ok(chain),
            (Err(e), true) => Err(err(format!("handshake failed before a certificate was shown: {e}"))),
            (Ok(()), true) => Err(err("the server presented no certificate".into())),
        }
    };
    tokio::time::timeout(timeout, run).await.map_err(|_| ClusterError::Timeout {
        context: cluster.context.clone(),
        what: what.clone(),
        after: timeout,
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_ends_the_body_without_eof() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: x\r\ncontent-length: 7\r\n\r\n{\"a\":1}";
        assert_eq!(response_progress(raw, false), Progress::Done(200, b"{\"a\":1}".to_vec()));
        assert_eq!(response_progress(&raw[..raw.len() - 1], false), Progress::NeedMore);
        assert!(matches!(
            response_progress(&raw[..raw.len() - 1], true),
            Progress::Bad(m) if m.contains("Content-Length 7")
        ));
    }

    #[test]
    fn chunked_bodies_end_at_the_zero_chunk() {
        let raw =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\na;ext=1\r\n:1234567}\n\r\n0\r\n\r\n";
        assert_eq!(response_progress(raw, false), Progress::Done(200, b"{\"a\":1234567}\n".to_vec()));
        // Cut before the last chunk: not done yet, however many bytes arrived.
        let cut = raw.len() - 5;
        assert_eq!(response_progress(&raw[..cut], false), Progress::NeedMore);
        assert!(matches!(
            response_progress(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false),
            Progress::Bad(m) if m.contains("hexadecimal")
        ));
    }

    #[test]
    fn interim_answers_are_skipped_and_garbage_is_named() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(response_progress(raw, false), Progress::Done(404, vec![]));
        assert_eq!(response_progress(b"HTTP/1.1 200 OK\r\n", false), Progress::NeedMore);
        assert!(matches!(response_progress(b"garbage", true), Progress::Bad(_)));
        assert!(matches!(
            response_progress(b"SSH-2.0-x\r\n\r\n", false),
            Progress::Bad(m) if m.contains("SSH-2.0")
        ));
        // Close-delimited bodies need the stream's end.
        let raw = b"HTTP/1.0 200 OK\r\n\r\nbody";
        assert_eq!(response_progress(raw, false), Progress::NeedMore);
        assert_eq!(response_progress(raw, true), Progress::Done(200, b"body".to_vec()));
    }
}
