//! `kubectl asm-tls webhook`: the runbook's "TLS bad certificate errors in the Istiod logs", steps 1-2. Every
//! sidecar-injector webhook's caBundle is checked against istiod's CA (published root and live serving
//! certificate); `--fix` restarts istiod so it re-patches the bundle, after a server-side dry run and a yes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asm_core::checks::tls::webhook::{ca_bundle_command, check_all, deployment_for, restart_command};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, confirm, for_each_cluster, parse_duration};
use asm_core::cluster::mesh::injector_snapshot;
use asm_core::cluster::{Cluster, ClusterError, connect_all, selected_contexts};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report, Status};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only the injector of this revision (istio.io/rev label; `default` for the unlabelled one)
    #[arg(long)]
    pub revision: Option<String>,
    /// Namespace of the control plane
    #[arg(long, default_value = "istio-system")]
    pub istio_namespace: String,
    /// Warn when a caBundle certificate expires within this time
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30d")]
    pub warn_within: Duration,
    /// Do not fetch istiod's live serving certificate over a port-forward; compare with the published root only
    #[arg(long)]
    pub no_live: bool,
    /// Restart istiod where a caBundle is wrong, so it re-patches the webhook (asks for confirmation)
    #[arg(long)]
    pub fix: bool,
    /// Confirm --fix without asking (for automation)
    #[arg(long, requires = "fix")]
    pub yes: bool,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

fn kubectl(g: &GlobalArgs, ctx: &str) -> KubectlCommand {
    KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(ctx))
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let sel = g.cluster.selection();
    if g.output.print_commands {
        let mut planned = Vec::new();
        for ctx in selected_contexts(&sel)? {
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "the sidecar injector's caBundle (runbook step 2); repeat per webhook index".into(),
                command: ca_bundle_command(kubectl(g, &ctx), "istio-sidecar-injector", 0),
            });
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "istiod's published CA root, to compare with".into(),
                command: kubectl(g, &ctx)
                    .args([
                        "get",
                        "configmap",
                        "istio-ca-root-cert",
                        "-n",
                        &a.istio_namespace,
                        "-o=jsonpath={.data.root-cert\\.pem}",
                    ])
                    .render(),
            });
            if a.fix {
                planned.push(PlannedCommand {
                    context: ctx.clone(),
                    purpose: "--fix: restart istiod so it re-patches the caBundle".into(),
                    command: restart_command(kubectl(g, &ctx), &a.istio_namespace, "istiod"),
                });
            }
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&sel).await?;
    let mut findings = for_each_cluster(&clusters, CheckId::TlsWebhookCaBundle, |c| check_cluster(c, g, a)).await;
    if a.fix {
        for c in &clusters {
            findings.extend(fix_cluster(c, g, a, &findings).await?);
        }
    }
    Ok(Outcome::Report(Report::new(findings)))
}

async fn check_cluster(c: Cluster, g: &GlobalArgs, a: &Args) -> Result<Vec<Finding>, ClusterError> {
    let snapshot = injector_snapshot(&c, a.revision.as_deref(), &a.istio_namespace, !a.no_live).await?;
    Ok(check_all(&snapshot, now(), a.warn_within.as_secs() as i64, &c.context, &a.istio_namespace, || {
        kubectl(g, &c.context)
    }))
}

/// Restart the istiod Deployments behind failing webhooks in one cluster, after a server-side dry run and a
/// confirmation. Restarting is idempotent: a second run restarts again, which is harmless.
async fn fix_cluster(c: &Cluster, g: &GlobalArgs, a: &Args, findings: &[Finding]) -> Result<Vec<Finding>, CliError> {
    let mut targets: Vec<(String, String)> = Vec::new();
    for f in findings
        .iter()
        .filter(|f| f.context == c.context && f.id == CheckId::TlsWebhookCaBundle && f.status == Status::Fail)
    {
        let svc = f.data.get("endpoint").and_then(|e| e.as_str()).and_then(parse_service_endpoint);
        let rev = f.data.get("revision").and_then(|r| r.as_str());
        let deployment = deployment_for(svc.as_ref(), rev);
        let ns = svc.map(|s| s.0).unwrap_or_else(|| a.istio_namespace.clone());
        if !targets.contains(&(ns.clone(), deployment.clone())) {
            targets.push((ns, deployment));
        }
    }
    let mut out = Vec::new();
    for (ns, name) in targets {
        let command = restart_command(kubectl(g, &c.context), &ns, &name);
        let target = format!("deployment/{name} -n {ns}");
        let api: Api<Deployment> = Api::namespaced(c.client.clone(), &ns);
        let stamp = asm_core::parse::x509::rfc3339(now());
        let patch =
            json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}});
        let dry = PatchParams { dry_run: true, ..Default::default() };
        if let Err(e) = api.patch(&name, &dry, &Patch::Merge(&patch)).await {
            let e = ClusterError::from_kube(&c.context, "patch", "deployments", Some(&ns), e);
            out.push(
                Finding::new(CheckId::TlsIstiodRestart, &c.context, &target)
                    .status(Status::Error, format!("server-side dry run refused the restart: {e}"))
                    .command(command),
            );
            continue;
        }
        if !confirm(&format!("[{}] restart {target} (server-side dry run passed)?", c.context), a.yes)? {
            out.push(
                Finding::new(CheckId::TlsIstiodRestart, &c.context, &target)
                    .status(Status::Skip, "not restarted: declined")
                    .command(command),
            );
            continue;
        }
        let f = Finding::new(CheckId::TlsIstiodRestart, &c.context, &target).command(command);
        out.push(match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => f
                .status(Status::Pass, format!("restart requested ({stamp}); istiod re-patches the caBundle when it starts"))
                .remediation(format!("check again once the rollout is done: kubectl rollout status deployment/{name} -n {ns} --context={}, then kubectl asm-tls webhook --context={}", c.context, c.context)),
            Err(e) => f.status(Status::Error, ClusterError::from_kube(&c.context, "patch", "deployments", Some(&ns), e).to_string()),
        });
    }
    Ok(out)
}

/// `service NS/NAME:PORT/path` back into its parts.
fn parse_service_endpoint(e: &str) -> Option<(String, String, u16)> {
    let rest = e.strip_prefix("service ")?;
    let (ns, rest) = rest.split_once('/')?;
    let (name, rest) = rest.split_once(':')?;
    let port = rest.split('/').next()?.parse().ok()?;
    Some((ns.into(), name.into(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_names_follow_the_service() {
        assert_eq!(
            deployment_for(Some(&("istio-system".into(), "istiod-asm-1-20".into(), 443)), None),
            "istiod-asm-1-20"
        );
        assert_eq!(deployment_for(None, Some("canary")), "istiod-canary");
        assert_eq!(deployment_for(None, None), "istiod");
        assert_eq!(
            parse_service_endpoint("service istio-system/istiod:443/inject"),
            Some(("istio-system".into(), "istiod".into(), 443))
        );
        assert_eq!(parse_service_endpoint("https://x"), None);
    }
}
