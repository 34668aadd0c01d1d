//! `kubectl asm-authz policies POD[.NS]`: the AuthorizationPolicies that apply to a workload, in the order
//! its proxy evaluates them, with the default-allow note when no ALLOW policy applies.

use asm_core::checks::authz::policies::{self, Workload};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, for_each_cluster};
use asm_core::cluster::authz::services_selecting;
use asm_core::cluster::{
    Cluster, ClusterError, IstioKind, PodRef, connect_all, find_pod, list_dynamic, parse_pod_ref, selected_contexts,
};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The workload: POD[.NS], deploy/NAME[.NS], or a name matched by its app label
    #[arg(value_name = "POD[.NS]")]
    pub pod: String,
    /// The mesh's root namespace, whose policies apply mesh-wide
    #[arg(long, default_value = "istio-system")]
    pub root_namespace: String,
}

fn get(g: &GlobalArgs, ctx: &str, what: &[&str]) -> String {
    KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(ctx)).args(what.iter().copied()).render()
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let r = parse_pod_ref(&a.pod, g.cluster.namespace.as_deref()).map_err(|e| CliError::usage(format!("POD: {e}")))?;
    if g.output.print_commands {
        let ns = r.namespace.clone().unwrap_or_else(|| "NAMESPACE".into());
        let mut planned = Vec::new();
        for ctx in selected_contexts(&g.cluster.selection())? {
            for (purpose, cmd) in [
                ("the workload's labels", get(g, &ctx, &["get", "pod", &r.name, "-n", &ns, "-o", "yaml"])),
                ("Services selecting it (targetRefs)", get(g, &ctx, &["get", "services", "-n", &ns, "-o", "yaml"])),
                (
                    "policies in its namespace",
                    get(g, &ctx, &["get", "authorizationpolicies.security.istio.io", "-n", &ns, "-o", "yaml"]),
                ),
                (
                    "mesh-wide policies",
                    get(
                        g,
                        &ctx,
                        &["get", "authorizationpolicies.security.istio.io", "-n", &a.root_namespace, "-o", "yaml"],
                    ),
                ),
            ] {
                planned.push(PlannedCommand { context: ctx.clone(), purpose: purpose.into(), command: cmd });
            }
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&g.cluster.selection()).await?;
    let findings = for_each_cluster(&clusters, CheckId::AuthzPolicies, |c| list(c, g, a, &r)).await;
    Ok(Outcome::Report(Report::new(findings)))
}

async fn list(c: Cluster, g: &GlobalArgs, a: &Args, r: &PodRef) -> Result<Vec<Finding>, ClusterError> {
    let pod = find_pod(&c, r).await?;
    let labels = pod.labels();
    let services = services_selecting(&c, &pod.namespace, &labels).await?;
    let mut all = list_dynamic(&c, IstioKind::AuthorizationPolicy, Some(&pod.namespace)).await?;
    if a.root_namespace != pod.namespace {
        all.extend(list_dynamic(&c, IstioKind::AuthorizationPolicy, Some(&a.root_namespace)).await?);
    }
    let w = Workload { namespace: pod.namespace.clone(), name: pod.name.clone(), labels, services };
    let mut f = policies::finding(&c.context, &w, &a.root_namespace, &all);
    for ns in [pod.namespace.as_str(), a.root_namespace.as_str()] {
        f = f.command(get(g, &c.context, &["get", "authorizationpolicies.security.istio.io", "-n", ns, "-o", "yaml"]));
    }
    Ok(vec![f])
}
