//! `kubectl asm-tls mode`: the effective mTLS mode of each workload and port, and the PeerAuthentications
//! (mesh, namespace, workload, port) that decided it. Beyond the runbook: it answers "why is this port still
//! accepting plain text?" without reading every policy by hand.

use std::collections::BTreeSet;

use asm_core::checks::tls::mtls_mode::{MtlsMode, PeerAuthentication, effective_mode};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, for_each_cluster};
use asm_core::cluster::services::has_sidecar;
use asm_core::cluster::{
    Cluster, ClusterError, IstioKind, PodRef, connect_all, find_pod, list_dynamic, parse_pod_ref, selected_contexts,
};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report, Status};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    Strict,
    Permissive,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One workload: POD[.NS], deploy/NAME[.NS] or an app label value; default every pod in -n / -A
    pub workload: Option<String>,
    /// The mesh's root namespace, where mesh-wide PeerAuthentications live
    #[arg(long, default_value = "istio-system")]
    pub root_namespace: String,
    /// Fail unless every port has this mode (for scripts); without it PERMISSIVE and DISABLE are warnings
    #[arg(long, value_enum)]
    pub expect: Option<Expect>,
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let one = a
        .workload
        .as_deref()
        .map(|w| parse_pod_ref(w, g.cluster.namespace.as_deref()))
        .transpose()
        .map_err(CliError::usage)?;
    let sel = g.cluster.selection();
    if g.output.print_commands {
        let mut planned = Vec::new();
        for ctx in selected_contexts(&sel)? {
            let k = || KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&ctx));
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "every PeerAuthentication (mesh, namespace, workload, port level)".into(),
                command: k().args(["get", "peerauthentications.security.istio.io", "-A", "-o", "yaml"]).render(),
            });
            let pods = match (&one, &g.cluster.namespace, g.cluster.all_namespaces) {
                (_, _, true) => k().args(["get", "pods", "-A", "--show-labels"]),
                (Some(PodRef { namespace: Some(ns), .. }), _, _) | (_, Some(ns), _) => {
                    k().args(["get", "pods", "-n", ns, "--show-labels"])
                }
                _ => k().args(["get", "pods", "--show-labels"]),
            };
            planned.push(PlannedCommand {
                context: ctx,
                purpose: "the workloads and their labels".into(),
                command: pods.render(),
            });
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&sel).await?;
    let findings = for_each_cluster(&clusters, CheckId::TlsMtlsMode, |c| modes(c, g, a, one.clone())).await;
    Ok(Outcome::Report(Report::new(findings)))
}

async fn modes(c: Cluster, g: &GlobalArgs, a: &Args, one: Option<PodRef>) -> Result<Vec<Finding>, ClusterError> {
    let pods: Vec<Pod> = match &one {
        Some(r) => vec![find_pod(&c, r).await?.pod],
        None => {
            let api: Api<Pod> = if g.cluster.all_namespaces {
                Api::all(c.client.clone())
            } else {
                Api::namespaced(c.client.clone(), g.cluster.namespace.as_deref().unwrap_or(&c.default_namespace))
            };
            api.list(&ListParams::default())
                .await
                .map_err(|e| ClusterError::from_kube(&c.context, "list", "pods", g.cluster.namespace.as_deref(), e))?
                .items
        }
    };
    let mut policies = Vec::new();
    for v in list_dynamic(&c, IstioKind::PeerAuthentication, None).await? {
        policies.push(PeerAuthentication::from_json(&v).map_err(|message| ClusterError::Api {
            context: c.context.clone(),
            what: "read PeerAuthentication".into(),
            message,
        })?);
    }
    let command = KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&c.context))
        .args(["get", "peerauthentications.security.istio.io", "-A", "-o", "yaml"])
        .render();
    let mut findings = Vec::new();
    for pod in &pods {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let target = format!("{ns}/{name}");
        let f = Finding::new(CheckId::TlsMtlsMode, &c.context, &target).command(command.clone());
        if !has_sidecar(pod) {
            findings.push(
                f.status(Status::Skip, "no istio-proxy sidecar: PeerAuthentication does not apply, plain text only")
                    .data(json!({"sidecar": false})),
            );
            continue;
        }
        let workload = effective_mode(&a.root_namespace, &policies, &ns, &labels, None);
        // The ports that matter: what the app containers declare, plus any port a policy names.
        let mut ports: BTreeSet<u32> = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .filter(|c| c.name != "istio-proxy")
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| u32::try_from(p.container_port).ok())
            .collect();
        ports.extend(policies.iter().filter(|p| p.namespace == ns).flat_map(|p| p.port_level.keys().copied()));
        let per_port: Vec<_> =
            ports.iter().map(|p| effective_mode(&a.root_namespace, &policies, &ns, &labels, Some(*p))).collect();
        let overrides: Vec<String> = per_port
            .iter()
            .filter(|m| m.mode != workload.mode)
            .map(|m| format!("port {} {}", m.port.unwrap_or_default(), m.mode.as_str()))
            .collect();
        let all_modes: BTreeSet<MtlsMode> =
            std::iter::once(workload.mode).chain(per_port.iter().map(|m| m.mode)).collect();
        let summary = if overrides.is_empty() {
            workload.mode.as_str().to_owned()
        } else {
            format!("{} ({})", workload.mode.as_str(), overrides.join(", "))
        };
        let status = match a.expect {
            Some(Expect::Strict) if all_modes.iter().any(|m| *m != MtlsMode::Strict) => Status::Fail,
            Some(Expect::Permissive) if all_modes.iter().any(|m| *m != MtlsMode::Permissive) => Status::Fail,
            Some(_) => Status::Pass,
            None if all_modes.iter().any(|m| matches!(m, MtlsMode::Permissive | MtlsMode::Disable)) => Status::Warn,
            None => Status::Pass,
        };
        let mut f = f.status(status, summary).data(json!({"sidecar": true, "workload": workload, "ports": per_port}));
        f = f.evidence(format!("decided by: {}", workload.explain()));
        if !workload.ignored.is_empty() {
            f = f
                .evidence(format!("ignored (an older policy at the same level wins): {}", workload.ignored.join(", ")));
        }
        if status != Status::Pass {
            f = f.remediation(format!(
                "to require mTLS for {ns}, apply a namespace PeerAuthentication with mtls.mode STRICT (kubectl asm-tls verify --from <client pod> --to <service>.{ns} confirms it), and remove port-level DISABLE/PERMISSIVE overrides you do not need"
            ));
        }
        findings.push(f);
    }
    if findings.is_empty() {
        findings.push(
            Finding::new(
                CheckId::TlsMtlsMode,
                &c.context,
                g.cluster.namespace.clone().unwrap_or_else(|| c.default_namespace.clone()),
            )
            .status(Status::Skip, "no pods found"),
        );
    }
    Ok(findings)
}
