//! `kubectl asm-certs root-consistency`: every selected cluster's istio-ca-root-cert ConfigMaps and trust
//! domain, compared with the majority, so a cluster (or a stale namespace) trusting another root stands out.

use asm_core::checks::certs::consistency::{ClusterTrust, RootConfigMap, check_root_consistency};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, error_finding};
use asm_core::cluster::{Cluster, ClusterError, connect_all, selected_contexts, trust};
use asm_core::model::{CheckId, KubectlCommand, Report};
use asm_core::parse::x509::{fingerprint, parse_pem_bundle, summarize};
use futures::future::join_all;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mesh's trust domain for every cluster (default: each cluster's meshConfig.trustDomain)
    #[arg(long, value_name = "TD")]
    pub trust_domain: Option<String>,
    #[arg(long, default_value = "istio-system")]
    pub istio_namespace: String,
}

async fn gather(c: &Cluster, g: &GlobalArgs, a: &Args) -> Result<ClusterTrust, ClusterError> {
    let ns = g.cluster.namespace.as_deref();
    let (td, td_source) =
        super::common::trust_domain(c, a.trust_domain.as_deref(), &a.istio_namespace).await?;
    let cms = trust::all_root_certs(c, ns).await?;
    let configmaps = cms
        .into_iter()
        .map(|(namespace, pem)| match parse_pem_bundle(pem.as_bytes()) {
            Ok(certs) => {
                let mut fps: Vec<String> = certs.iter().map(fingerprint).collect();
                fps.sort();
                RootConfigMap {
                    namespace,
                    fingerprints: Ok(fps),
                    subjects: certs.iter().map(|c| summarize(c).subject).collect(),
                }
            }
            Err(e) => RootConfigMap {
                namespace,
                fingerprints: Err(e.to_string()),
                subjects: vec![],
            },
        })
        .collect();
    Ok(ClusterTrust {
        context: c.context.clone(),
        trust_domain: td,
        trust_domain_source: td_source,
        configmaps,
        commands: commands(g, &c.context, ns),
    })
}

fn commands(g: &GlobalArgs, ctx: &str, ns: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "get".to_owned(),
        "configmap".into(),
        "istio-ca-root-cert".into(),
    ];
    match ns {
        Some(n) => args.extend(["-n".into(), n.to_owned()]),
        None => args.push("-A".into()),
    }
    args.extend([
        "-o".into(),
        "jsonpath={range .items[*]}{.metadata.namespace}{\"\\n\"}{.data.root-cert\\.pem}{end}"
            .into(),
    ]);
    if ns.is_some() {
        args.truncate(args.len() - 2);
        args.extend(["-o".into(), "jsonpath={.data.root-cert\\.pem}".into()]);
    }
    vec![
        KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(ctx))
            .args(args)
            .render(),
        KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(ctx))
            .args([
                "get",
                "configmap",
                "istio",
                "-n",
                "istio-system",
                "-o",
                "jsonpath={.data.mesh}",
            ])
            .render(),
    ]
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let sel = g.cluster.selection();
    if g.output.print_commands {
        let mut planned = Vec::new();
        for ctx in selected_contexts(&sel)? {
            for cmd in commands(g, &ctx, g.cluster.namespace.as_deref()) {
                planned.push(PlannedCommand {
                    context: ctx.clone(),
                    purpose: "roots and trust domain this cluster uses".into(),
                    command: cmd,
                });
            }
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&sel).await?;
    // Gathered first, judged together: the majority is across all clusters.
    let results = join_all(clusters.iter().map(|c| gather(c, g, a))).await;
    let mut ok = Vec::new();
    let mut findings = Vec::new();
    for (c, r) in clusters.iter().zip(results) {
        match r {
            Ok(t) => ok.push(t),
            Err(e) => findings.push(error_finding(
                CheckId::CertsRootConsistency,
                &c.context,
                &format!("cluster {}", c.context),
                &e,
            )),
        }
    }
    let mut judged = check_root_consistency(&ok);
    judged.extend(findings);
    Ok(Outcome::Report(Report::new(judged)))
}
