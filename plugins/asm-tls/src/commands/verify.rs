//! `kubectl asm-tls verify`: the runbook's "Verify TLS enforcement". A plain-text request from a source pod
//! to a service must be refused when the service requires mTLS; the PeerAuthentications that decide the
//! destination's mode are shown alongside as context.

use std::time::Duration;

use asm_core::checks::tls::mtls_mode::{EffectiveMode, MtlsMode, PeerAuthentication, effective_mode};
use asm_core::checks::tls::plaintext::{self, PlaintextVerdict};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, for_each_cluster_on, parse_duration};
use asm_core::cluster::services::{Backends, Destination, has_sidecar, probe_destination};
use asm_core::cluster::{
    self, Cluster, ClusterError, ExecRequest, IstioKind, PodRef, connect_all, list_dynamic, parse_pod_ref,
    probe_source, selected_contexts,
};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report, ServiceRef, Status};
use asm_core::parse::curl::max_time_secs;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source pod: POD[.NS], deploy/NAME[.NS], or a workload name matched by its app label
    #[arg(long, value_name = "POD[.NS]")]
    pub from: String,
    /// Container in the source pod to run curl in (default: the first that is not istio-proxy)
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Destination service: SERVICE[.NS][:PORT] (namespace defaults to the source's, port to the Service's first)
    #[arg(long, value_name = "SERVICE[.NS][:PORT]")]
    pub to: String,
    /// Path to request
    #[arg(long, default_value = "/")]
    pub path: String,
    /// How long curl may take (curl --max-time)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub probe_timeout: Duration,
    /// The mesh's root namespace, where mesh-wide PeerAuthentications live
    #[arg(long, default_value = "istio-system")]
    pub root_namespace: String,
}

/// The runbook's probe: plain HTTP, curl's own error on stderr, the status on stdout.
fn curl_argv(url: &str, timeout: Duration) -> Vec<String> {
    let secs = max_time_secs(timeout).to_string();
    ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", &secs, url].map(String::from).into()
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let src =
        parse_pod_ref(&a.from, g.cluster.namespace.as_deref()).map_err(|e| CliError::usage(format!("--from: {e}")))?;
    let dst = ServiceRef::parse(&a.to).map_err(|e| CliError::usage(format!("--to: {e}")))?;
    let sel = g.cluster.selection();
    if g.output.print_commands {
        let container = a.container.clone().unwrap_or_else(|| "SOURCE_CONTAINER".into());
        let mut planned = Vec::new();
        for ctx in selected_contexts(&sel)? {
            let argv = curl_argv(&dst.url(dst.port, &a.path), a.probe_timeout);
            let cmd = KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&ctx)).exec_planned(
                &src.name,
                src.namespace.as_deref(),
                &container,
                &argv,
            );
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "plain-text request; it must be refused".into(),
                command: cmd.render(),
            });
            let pa = KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&ctx)).args([
                "get",
                "peerauthentications.security.istio.io",
                "-A",
                "-o",
                "yaml",
            ]);
            planned.push(PlannedCommand {
                context: ctx,
                purpose: "the PeerAuthentications that decide the destination's mode".into(),
                command: pa.render(),
            });
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&sel).await?;
    let label = format!("{} -> {}", a.from, a.to);
    let findings = for_each_cluster_on(&clusters, CheckId::TlsPlaintext, &label, |c| probe(c, g, a, &src, &dst)).await;
    Ok(Outcome::Report(Report::new(findings)))
}

async fn probe(
    c: Cluster,
    g: &GlobalArgs,
    a: &Args,
    src: &PodRef,
    dst: &ServiceRef,
) -> Result<Vec<Finding>, ClusterError> {
    let (pod, container) = probe_source(&c, src, a.container.as_deref()).await?;
    // The Service gives the default port and the pods whose PeerAuthentication matters.
    let Destination { namespace: dst_ns, backends, port } = probe_destination(&c, dst, &pod.namespace).await;
    let target_url = dst.url(Some(port), &a.path);
    let argv = curl_argv(&target_url, a.probe_timeout);
    let command = KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&c.context)).exec(
        &pod.name,
        Some(pod.namespace.as_str()),
        &container,
        &argv,
    );
    let target = format!("{}/{} -> {}", pod.namespace, pod.name, dst.authority(Some(port)));

    let req = ExecRequest {
        namespace: &pod.namespace,
        pod: &pod.name,
        container: &container,
        argv: &argv,
        timeout: a.probe_timeout + Duration::from_secs(15),
    };
    let out = match cluster::exec(&c, &req).await {
        Ok(out) => out,
        Err(e) => {
            let f = Finding::new(CheckId::TlsPlaintext, &c.context, target)
                .status(Status::Error, e.to_string())
                .command(command.render());
            return Ok(vec![f]);
        }
    };
    let verdict = plaintext::judge(&out);
    let mode = destination_mode(&c, &a.root_namespace, &dst_ns, port, &backends).await;

    let mut f = Finding::new(CheckId::TlsPlaintext, &c.context, target).command(command.render());
    let curl_line = match asm_core::parse::curl::curl_error(&out.stderr) {
        Some(e) => format!("curl: ({}) {}; {}", e.code, e.message, out.describe_exit()),
        None => format!("HTTP status {}; {}", out.stdout.trim(), out.describe_exit()),
    };
    f = f.evidence(curl_line).evidence(format!("source: {} container {container}", pod.how));
    if let Some(d) = plaintext::signal_disagreement(&out) {
        f = f.evidence(d);
    }
    f = match &mode {
        Ok(Some((m, pod_name, target_port))) => f.evidence(format!(
            "PeerAuthentication for {dst_ns}/{pod_name} port {target_port}: {} ({})",
            m.mode.as_str(),
            m.explain()
        )),
        Ok(None) => f.evidence(format!("no pods behind service {dst_ns}/{}: mode not computed", dst.name)),
        Err(e) => f.evidence(format!("PeerAuthentication context unavailable: {e}")),
    };
    let mode_data = mode
        .as_ref()
        .ok()
        .and_then(|m| m.as_ref())
        .map(|(m, p, tp)| json!({"pod": p, "targetPort": tp, "effective": m}));
    f = f.data(json!({
        "verdict": verdict,
        "probe": {"stdout": out.stdout, "stderr": out.stderr, "exit": out.exit, "url": target_url},
        "source": {"namespace": pod.namespace, "pod": pod.name, "container": container},
        "destination": {"service": dst.name, "namespace": dst_ns, "port": port},
        "peerAuthentication": mode_data,
    }));
    let no_sidecar = backends.as_ref().is_ok_and(|b| !b.pods.is_empty() && !b.pods.iter().any(has_sidecar));
    let effective = mode.as_ref().ok().and_then(|m| m.as_ref()).map(|(m, _, _)| m.mode);
    let kctx = format!("--context={}", c.context);
    Ok(vec![match verdict {
        PlaintextVerdict::Rejected { .. } => {
            let f = f.status(Status::Pass, "plain text refused: the service requires TLS");
            if matches!(effective, Some(MtlsMode::Permissive | MtlsMode::Disable)) {
                f.evidence("the connection was refused although the PeerAuthentication is not STRICT: something other than the sidecar's mTLS mode refuses plain text")
            } else {
                f
            }
        }
        PlaintextVerdict::Answered { http_code } => {
            let f = f
                .status(Status::Fail, format!("plain text allowed: the service answered HTTP {http_code} without TLS"));
            if no_sidecar {
                f.remediation(format!("the pods behind {dst_ns}/{} have no istio-proxy sidecar, so no policy can require mTLS: enable injection (kubectl label namespace {dst_ns} istio-injection=enabled {kctx}) and restart them (kubectl rollout restart deployment -n {dst_ns} {kctx})", dst.name))
            } else if effective == Some(MtlsMode::Strict) {
                f.remediation(format!("the PeerAuthentication says STRICT yet plain text was answered: check that port {port} is not excluded from interception (annotation traffic.sidecar.istio.io/excludeInboundPorts) and that the sidecar is running"))
            } else {
                f.remediation(format!(
                    "require mTLS for the namespace: kubectl apply {kctx} -f - <<EOF\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: {dst_ns}\nspec:\n  mtls:\n    mode: STRICT\nEOF"
                ))
            }
        }
        PlaintextVerdict::Inconclusive { reason, detail } => {
            f.status(Status::Error, format!("inconclusive: {detail}")).remediation(plaintext::hint(
                reason,
                &dst.authority(Some(port)),
                &format!("{}/{}", pod.namespace, pod.name),
            ))
        }
    }])
}

/// The destination's effective mode for the port the Service sends to, from the first pod behind it.
async fn destination_mode(
    c: &Cluster,
    root_ns: &str,
    dst_ns: &str,
    port: u16,
    backends: &Result<Backends, ClusterError>,
) -> Result<Option<(EffectiveMode, String, u32)>, ClusterError> {
    let backends = match backends {
        Ok(b) => b,
        Err(e) => {
            return Err(ClusterError::Api {
                context: c.context.clone(),
                what: "service lookup".into(),
                message: e.to_string(),
            });
        }
    };
    let Some(pod) = backends.pods.first() else {
        return Ok(None);
    };
    let mut policies = Vec::new();
    for ns in [root_ns, dst_ns] {
        for v in list_dynamic(c, IstioKind::PeerAuthentication, Some(ns)).await? {
            let pa = PeerAuthentication::from_json(&v).map_err(|message| ClusterError::Api {
                context: c.context.clone(),
                what: "read PeerAuthentication".into(),
                message,
            })?;
            if !policies.contains(&pa) {
                policies.push(pa);
            }
        }
    }
    let target_port = backends.target_port(port, pod).unwrap_or(u32::from(port));
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let mode = effective_mode(root_ns, &policies, dst_ns, &labels, Some(target_port));
    Ok(Some((mode, pod.metadata.name.clone().unwrap_or_default(), target_port)))
}
