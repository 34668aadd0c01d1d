//! `kubectl asm-authz verify`: the runbook's "Authorization policies are not enforced". A request from a
//! source pod to a service, read as a proxy denial (403 `RBAC: access denied`), an application 403, an
//! allowed request, or a terminated connection; with `--expect`, a mismatch fails.

use std::time::Duration;

use asm_core::checks::authz::enforced::{self, AuthzOutcome, Expect};
use asm_core::checks::authz::policies::{Workload, applicable};
use asm_core::checks::tls::plaintext;
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, for_each_cluster, parse_duration};
use asm_core::cluster::authz::services_selecting;
use asm_core::cluster::logs::has_container;
use asm_core::cluster::services::{Destination, probe_destination};
use asm_core::cluster::{
    self, Cluster, ClusterError, ExecRequest, IstioKind, PodRef, connect_all, list_dynamic, parse_pod_ref,
    probe_source, selected_contexts,
};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report, ServiceRef, Status};
use asm_core::parse::curl::max_time_secs;

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
    /// HTTP method
    #[arg(long, short = 'X', default_value = "GET")]
    pub method: String,
    /// What the request should meet; a mismatch is a failure
    #[arg(long, value_enum)]
    pub expect: Option<Expect>,
    /// How long curl may take (curl --max-time)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub probe_timeout: Duration,
    /// The mesh's root namespace, whose policies apply mesh-wide
    #[arg(long, default_value = "istio-system")]
    pub root_namespace: String,
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let src =
        parse_pod_ref(&a.from, g.cluster.namespace.as_deref()).map_err(|e| CliError::usage(format!("--from: {e}")))?;
    let dst = ServiceRef::parse(&a.to).map_err(|e| CliError::usage(format!("--to: {e}")))?;
    let method = a.method.to_ascii_uppercase();
    if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(CliError::usage(format!("--method {:?} is not an HTTP method", a.method)));
    }
    if g.output.print_commands {
        let container = a.container.clone().unwrap_or_else(|| "SOURCE_CONTAINER".into());
        let mut planned = Vec::new();
        for ctx in selected_contexts(&g.cluster.selection())? {
            let argv = enforced::probe_argv(&method, &dst.url(dst.port, &a.path), max_time_secs(a.probe_timeout));
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "the request; a proxy denial is 403 with body \"RBAC: access denied\"".into(),
                command: KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&ctx))
                    .exec_planned(&src.name, src.namespace.as_deref(), &container, &argv)
                    .render(),
            });
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&g.cluster.selection()).await?;
    let findings = for_each_cluster(&clusters, CheckId::AuthzEnforced, |c| probe(c, g, a, &src, &dst, &method)).await;
    Ok(Outcome::Report(Report::new(findings)))
}

async fn probe(
    c: Cluster,
    g: &GlobalArgs,
    a: &Args,
    src: &PodRef,
    dst: &ServiceRef,
    method: &str,
) -> Result<Vec<Finding>, ClusterError> {
    let (pod, container) = probe_source(&c, src, a.container.as_deref()).await?;
    let Destination { namespace: dst_ns, backends, port } = probe_destination(&c, dst, &pod.namespace).await;
    let target_url = dst.url(Some(port), &a.path);
    let argv = enforced::probe_argv(method, &target_url, max_time_secs(a.probe_timeout));
    let command = KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&c.context))
        .exec(&pod.name, Some(pod.namespace.as_str()), &container, &argv)
        .render();
    let target = format!(
        "{}/{} -> {method} {}{}",
        pod.namespace,
        pod.name,
        dst.authority(Some(port)),
        if a.path.starts_with('/') { a.path.clone() } else { format!("/{}", a.path) }
    );
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
            return Ok(vec![
                Finding::new(CheckId::AuthzEnforced, &c.context, target)
                    .status(Status::Error, e.to_string())
                    .command(command),
            ]);
        }
    };
    let outcome = enforced::judge(&out);
    let (body, code) = enforced::split_body(&out.stdout);
    let first_body_line = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("(empty body)");
    let mut f = Finding::new(CheckId::AuthzEnforced, &c.context, &target).command(command);
    f = f.evidence(match (code, asm_core::parse::curl::curl_error(&out.stderr)) {
        (Some(code), _) if code != 403 => {
            format!("HTTP {code}, {} bytes of body", body.len())
        }
        (Some(code), _) => format!("HTTP {code}, body: {}", first_body_line.chars().take(120).collect::<String>()),
        (None, Some(e)) => format!("curl: ({}) {}; {}", e.code, e.message, out.describe_exit()),
        (None, None) => format!("no HTTP status; {}", out.describe_exit()),
    });
    f = f.evidence(format!("source: {} container {container}", pod.how));

    // Context: the policies that decide at the destination, from its first pod.
    let mut dst_pod_name = None;
    let mut policies_apply = None;
    if let Ok(b) = &backends
        && let Some(p) = b.pods.first()
    {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        let w = Workload {
            namespace: dst_ns.clone(),
            name: p.metadata.name.clone().unwrap_or_default(),
            services: services_selecting(&c, &dst_ns, &labels).await.unwrap_or_default(),
            labels,
        };
        dst_pod_name = Some(w.name.clone());
        let mut list = Vec::new();
        // Only a complete listing can say that no policy applies.
        let mut listed = true;
        for ns in [a.root_namespace.as_str(), dst_ns.as_str()] {
            match list_dynamic(&c, IstioKind::AuthorizationPolicy, Some(ns)).await {
                Ok(mut v) => list.append(&mut v),
                Err(_) => listed = false,
            }
            if a.root_namespace == dst_ns {
                break;
            }
        }
        let applies = applicable(&list, &w, &a.root_namespace);
        if listed {
            policies_apply = Some(!applies.is_empty());
        }
        f = f.evidence(if applies.is_empty() {
            format!("no AuthorizationPolicy applies to {dst_ns}/{}: everything is allowed", w.name)
        } else {
            format!(
                "policies at {dst_ns}/{}: {}",
                w.name,
                applies.iter().map(|p| format!("{} {}", p.action, p.policy)).collect::<Vec<_>>().join(", ")
            )
        });
    }
    let source_has_sidecar = has_container(&pod.pod, "istio-proxy");
    let (status, summary) = enforced::reconsider_terminated(
        &outcome,
        enforced::verdict(&outcome, a.expect),
        policies_apply,
        source_has_sidecar,
    );
    f = f.status(status, summary);
    let kctx = format!("--context={}", c.context);
    f = match (&outcome, status) {
        (AuthzOutcome::Inconclusive { reason, .. }, _) => f.remediation(plaintext::hint(
            *reason,
            &dst.authority(Some(port)),
            &format!("{}/{}", pod.namespace, pod.name),
        )),
        (AuthzOutcome::Allowed { .. } | AuthzOutcome::ApplicationDenied { .. }, Status::Fail) => f
            .remediation(format!(
                "see which policies apply at the destination: kubectl asm-authz policies {}.{dst_ns} {kctx}",
                dst_pod_name.as_deref().unwrap_or(&dst.name)
            ))
            .remediation(format!(
                "check the destination pods have an istio-proxy sidecar: kubectl get pods -n {dst_ns} {kctx} -o jsonpath='{{..containers[*].name}}'"
            ))
            .remediation(format!(
                "the runbook's remedy, deny everything in the namespace: kubectl asm-authz deny-namespace {dst_ns} --apply {kctx}"
            )),
        (AuthzOutcome::ConnectionTerminated { .. }, Status::Error) => f.remediation(format!(
            "check mutual TLS between the two: kubectl asm-tls verify --from {}.{} --to {} {kctx}",
            pod.name,
            pod.namespace,
            dst.authority(Some(port))
        )),
        (AuthzOutcome::ProxyError { .. }, _) => f
            .remediation(format!(
                "read the destination proxy's log for why (a TCP-level RBAC denial shows there too): kubectl asm-authz explain --pod {}.{dst_ns} {kctx} --tail 200",
                dst_pod_name.as_deref().unwrap_or(&dst.name)
            ))
            .remediation(format!(
                "check the destination has ready pods listening on port {port}: kubectl get pods -n {dst_ns} {kctx} -o wide"
            )),
        (AuthzOutcome::ProxyDenied | AuthzOutcome::ConnectionTerminated { .. }, Status::Fail) => f
            .remediation(format!(
                "find the rule that denied it: kubectl asm-authz explain --pod {}.{dst_ns} {kctx} --tail 200",
                dst_pod_name.as_deref().unwrap_or(&dst.name)
            )),
        _ => f,
    };
    f.data = enforced::data(&outcome, a.expect, &out);
    if let Some(obj) = f.data.as_object_mut() {
        obj.insert("url".into(), target_url.into());
        obj.insert(
            "source".into(),
            serde_json::json!({"namespace": pod.namespace, "pod": pod.name, "container": container}),
        );
        obj.insert("destination".into(), serde_json::json!({"service": dst.name, "namespace": dst_ns, "port": port}));
    }
    Ok(vec![f])
}
