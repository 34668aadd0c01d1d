//! `kubectl asm-certs xfcc`: the runbook's "Check mTLS certificates" steps 1–2. curl httpbin's /headers from
//! a source pod, take X-Forwarded-Client-Cert out of the answer, and check the identities in it against the
//! source pod's service account, the destination's, and the mesh's trust domain. `-f` does the same on a
//! saved answer or a pasted header value.

use std::time::Duration;

use asm_core::checks::certs::xfcc::{XfccProbe, check_xfcc};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, for_each_cluster, parse_duration};
use asm_core::cluster::services::{has_sidecar, service_backends};
use asm_core::cluster::{
    self, Cluster, ClusterError, ExecRequest, PodRef, connect_all, parse_pod_ref, probe_source, selected_contexts,
};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report, ServiceRef, Status};
use asm_core::parse::curl::max_time_secs;
use asm_core::parse::xfcc::{SpiffeId, parse_spiffe, xfcc_from_headers_json, xfcc_from_text};

use super::common::{read_input, trust_domain};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source pod: POD[.NS], deploy/NAME[.NS], or a workload name matched by its app label
    #[arg(long, value_name = "POD[.NS]", required_unless_present = "file")]
    pub from: Option<String>,
    /// Container in the source pod to run curl in (default: the first that is not istio-proxy)
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// The httpbin service to ask: SERVICE[.NS][:PORT]
    #[arg(long, value_name = "SERVICE[.NS][:PORT]", default_value = "httpbin.sample:8000")]
    pub to: String,
    /// The mesh's trust domain (default: meshConfig.trustDomain from ConfigMap istio in --istio-namespace)
    #[arg(long, value_name = "TD")]
    pub trust_domain: Option<String>,
    /// Where the control plane's ConfigMaps live
    #[arg(long, default_value = "istio-system")]
    pub istio_namespace: String,
    /// Offline: a saved /headers answer, a `"X-Forwarded-Client-Cert": ...` line or the bare value; `-` for stdin
    #[arg(short = 'f', long = "filename", value_name = "FILE", conflicts_with = "from")]
    pub file: Option<String>,
    /// Offline: the caller's expected SPIFFE id
    #[arg(long, value_name = "SPIFFE_ID", requires = "file")]
    pub expect_source: Option<String>,
    /// Offline: the destination's expected SPIFFE id (By)
    #[arg(long, value_name = "SPIFFE_ID", requires = "file")]
    pub expect_by: Option<String>,
    /// How long curl may take (curl --max-time)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub probe_timeout: Duration,
}

fn curl_argv(url: &str, timeout: Duration) -> Vec<String> {
    let secs = max_time_secs(timeout).to_string();
    ["curl", "-sS", "--max-time", &secs, url].map(String::from).into()
}

fn spiffe_arg(flag: &str, v: &Option<String>) -> Result<Option<SpiffeId>, CliError> {
    v.as_ref()
        .map(|s| parse_spiffe(s).ok_or_else(|| CliError::usage(format!("{flag} {s:?} is not spiffe://TD/ns/NS/sa/SA"))))
        .transpose()
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    if let Some(file) = &a.file {
        return offline(g, a, file);
    }
    let from = a.from.as_deref().unwrap_or_default();
    let src =
        parse_pod_ref(from, g.cluster.namespace.as_deref()).map_err(|e| CliError::usage(format!("--from: {e}")))?;
    let dst = ServiceRef::parse(&a.to).map_err(|e| CliError::usage(format!("--to: {e}")))?;
    let sel = g.cluster.selection();
    let url = format!("http://{}/headers", dst.authority(None));
    if g.output.print_commands {
        let container = a.container.clone().unwrap_or_else(|| "SOURCE_CONTAINER".into());
        let mut planned = Vec::new();
        for ctx in selected_contexts(&sel)? {
            let cmd = KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&ctx)).exec_planned(
                &src.name,
                src.namespace.as_deref(),
                &container,
                &curl_argv(&url, a.probe_timeout),
            );
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "ask httpbin which client certificate its sidecar saw (X-Forwarded-Client-Cert)".into(),
                command: format!("{} | grep X-Forwarded-Client-Cert", cmd.render()),
            });
            if a.trust_domain.is_none() {
                planned.push(PlannedCommand {
                    context: ctx.clone(),
                    purpose: "the mesh's trust domain".into(),
                    command: KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&ctx))
                        .args(["get", "configmap", "istio", "-n", &a.istio_namespace, "-o", "jsonpath={.data.mesh}"])
                        .render(),
                });
            }
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&sel).await?;
    let findings = for_each_cluster(&clusters, CheckId::CertsXfcc, |c| probe(c, g, a, &src, &dst, &url)).await;
    Ok(Outcome::Report(Report::new(findings)))
}

fn offline(_g: &GlobalArgs, a: &Args, file: &str) -> Result<Outcome, CliError> {
    let text = read_input(file)?;
    let header = xfcc_from_text(&text).map_err(|e| CliError::usage(format!("{file}: {e}")))?;
    let p = XfccProbe {
        header,
        expected_source: spiffe_arg("--expect-source", &a.expect_source)?,
        expected_by: spiffe_arg("--expect-by", &a.expect_by)?,
        trust_domain: a.trust_domain.clone().map(|t| (t, "--trust-domain".into())),
        commands: vec![],
    };
    let target = if file == "-" { "stdin".to_owned() } else { file.to_owned() };
    Ok(Outcome::Report(Report::new(vec![check_xfcc(&p, "", &target)])))
}

async fn probe(
    c: Cluster,
    g: &GlobalArgs,
    a: &Args,
    src: &PodRef,
    dst: &ServiceRef,
    url: &str,
) -> Result<Vec<Finding>, ClusterError> {
    let (pod, container) = probe_source(&c, src, a.container.as_deref()).await?;
    let argv = curl_argv(url, a.probe_timeout);
    let command = KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&c.context))
        .exec(&pod.name, Some(&pod.namespace), &container, &argv)
        .render();
    let target = format!("{}/{} -> {}", pod.namespace, pod.name, dst.authority(None));
    let (td, td_source) = trust_domain(&c, a.trust_domain.as_deref(), &a.istio_namespace).await?;
    let req = ExecRequest {
        namespace: &pod.namespace,
        pod: &pod.name,
        container: &container,
        argv: &argv,
        timeout: a.probe_timeout + Duration::from_secs(15),
    };
    let out = match cluster::exec(&c, &req).await {
        Ok(o) => o,
        Err(e) => {
            return Ok(vec![
                Finding::new(CheckId::CertsXfcc, &c.context, target)
                    .status(Status::Error, e.to_string())
                    .command(command),
            ]);
        }
    };
    let header = match xfcc_from_headers_json(&out.stdout) {
        Ok(h) => h,
        Err(e) => {
            let curl_err = asm_core::parse::curl::curl_error(&out.stderr);
            let curl = curl_err
                .as_ref()
                .map(|e| format!("curl: ({}) {}", e.code, e.message))
                .unwrap_or_else(|| out.stderr.trim().to_owned());
            // A caller without a sidecar has no certificate to show, so the answer is known without the
            // header: a destination that requires mTLS resets its plain-text request (curl 56 or 52).
            let reset = curl_err.as_ref().is_some_and(|e| e.code == 56 || e.code == 52);
            if !has_sidecar(&pod.pod) && reset {
                return Ok(vec![
                    Finding::new(CheckId::CertsXfcc, &c.context, target)
                        .status(Status::Fail, format!("no mTLS from the caller: {}/{} has no istio-proxy sidecar, so its request went out in plain text and the destination reset it (it requires mTLS); no X-Forwarded-Client-Cert can exist", pod.namespace, pod.name))
                        .evidence(format!("{curl}; {}", out.describe_exit()))
                        .evidence(format!("containers of {}/{}: {}", pod.namespace, pod.name, pod.containers().join(", ")))
                        .command(command)
                        .remediation(format!("inject the sidecar into the caller: label namespace {} istio-injection=enabled (or istio.io/rev=REVISION), then restart the workload", pod.namespace))
                        .remediation(format!("confirm the destination refuses plain text: kubectl asm-tls verify --from {}.{} --to {}", pod.name, pod.namespace, dst.authority(None)))
                        .data(serde_json::json!({"present": false, "elements": [], "source_sidecar": false,
                            "curl": curl_err.as_ref().map(|e| serde_json::json!({"code": e.code, "message": e.message}))})),
                ]);
            }
            let mut f = Finding::new(CheckId::CertsXfcc, &c.context, target)
                .status(Status::Error, format!("no httpbin /headers answer to read: {e}"))
                .evidence(format!("{curl}; {}", out.describe_exit()))
                .command(command)
                .remediation(format!(
                    "check that {} is an httpbin (the runbook deploys samples/httpbin) and reachable from {}/{}",
                    dst.authority(None),
                    pod.namespace,
                    pod.name
                ));
            if asm_core::parse::curl::says_executable_missing(&format!("{}{}", out.stderr, out.describe_exit())) {
                f = f.remediation(format!("curl is not in container {container}: pick another with -c"));
            }
            return Ok(vec![f]);
        }
    };
    // The destination's identity: its Service's pods' service account.
    let dst_ns = dst.namespace.clone().unwrap_or_else(|| pod.namespace.clone());
    let mut notes = Vec::new();
    let expected_by = match service_backends(&c, &dst_ns, &dst.name).await {
        Ok(b) => match b.pods.first() {
            Some(p) => {
                let sa =
                    p.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
                Some(SpiffeId::new(&td, &dst_ns, &sa))
            }
            None => {
                notes.push(format!("service {dst_ns}/{} has no pods: By not compared", dst.name));
                None
            }
        },
        Err(e) => {
            notes.push(format!("destination not resolved ({e}): By not compared"));
            None
        }
    };
    let p = XfccProbe {
        header,
        expected_source: Some(SpiffeId::new(&td, &pod.namespace, &pod.service_account())),
        expected_by,
        trust_domain: Some((td, td_source)),
        commands: vec![command],
    };
    let mut f = check_xfcc(&p, &c.context, &target).evidence(format!("source: {} container {container}", pod.how));
    if !has_sidecar(&pod.pod) {
        f = f.evidence(format!(
            "{}/{} has no istio-proxy sidecar (containers: {})",
            pod.namespace,
            pod.name,
            pod.containers().join(", ")
        ));
    }
    for n in notes {
        f = f.evidence(n);
    }
    Ok(vec![f])
}
