//! `kubectl asm-certs root-consistency`: every selected cluster's istio-ca-root-cert ConfigMaps and trust
//! domain. Each cluster's namespaces are compared with that cluster's own root (istio-system's), and the
//! clusters' own roots with each other, so a stale namespace and a cluster on another root are told apart.

use asm_core::checks::certs::chain::classify_root;
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
    let (td, td_source) = super::common::trust_domain(c, a.trust_domain.as_deref(), &a.istio_namespace).await?;
    let to_cm = |namespace: String, pem: String| match parse_pem_bundle(pem.as_bytes()) {
        Ok(certs) => {
            let mut fps: Vec<String> = certs.iter().map(fingerprint).collect();
            fps.sort();
            RootConfigMap {
                namespace,
                fingerprints: Ok(fps),
                subjects: certs.iter().map(|c| summarize(c).subject).collect(),
                kinds: certs.iter().map(|c| classify_root(c, Some(&td))).collect(),
            }
        }
        Err(e) => RootConfigMap { namespace, fingerprints: Err(e.to_string()), subjects: vec![], kinds: vec![] },
    };
    let configmaps: Vec<RootConfigMap> =
        trust::all_root_certs(c, ns).await?.into_iter().map(|(n, pem)| to_cm(n, pem)).collect();
    // The cluster's own root, even when -n narrows the namespaces compared with it.
    let control_plane = match configmaps.iter().find(|cm| cm.namespace == a.istio_namespace) {
        Some(cm) => Some(cm.clone()),
        None => trust::root_cert_pem(c, &a.istio_namespace).await?.map(|pem| to_cm(a.istio_namespace.clone(), pem)),
    };
    Ok(ClusterTrust {
        context: c.context.clone(),
        trust_domain: td,
        trust_domain_source: td_source,
        istio_namespace: a.istio_namespace.clone(),
        control_plane,
        configmaps,
        commands: commands(g, a, &c.context, ns),
    })
}

/// The commands as a person would run them. A name cannot be combined with `-A` (kubectl refuses "a resource
/// cannot be retrieved by name across all namespaces"), hence the field selector.
fn commands(g: &GlobalArgs, a: &Args, ctx: &str, ns: Option<&str>) -> Vec<String> {
    let kc = || KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(ctx));
    let one = |n: &str| {
        kc().args(["get", "configmap", "istio-ca-root-cert", "-n", n, "-o", "jsonpath={.data.root-cert\\.pem}"])
            .render()
    };
    let mut out = Vec::new();
    match ns {
        Some(n) => {
            out.push(one(n));
            if n != a.istio_namespace {
                out.push(one(&a.istio_namespace));
            }
        }
        None => out.push(
            kc().args([
                "get",
                "configmap",
                "-A",
                "--field-selector",
                "metadata.name=istio-ca-root-cert",
                "-o",
                "jsonpath={range .items[*]}{.metadata.namespace}{\"\\n\"}{.data.root-cert\\.pem}{end}",
            ])
            .render(),
        ),
    }
    if a.trust_domain.is_none() {
        out.push(
            kc().args(["get", "configmap", "istio", "-n", &a.istio_namespace, "-o", "jsonpath={.data.mesh}"]).render(),
        );
    }
    out
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let sel = g.cluster.selection();
    if g.output.print_commands {
        let mut planned = Vec::new();
        for ctx in selected_contexts(&sel)? {
            for cmd in commands(g, a, &ctx, g.cluster.namespace.as_deref()) {
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
    // Gathered first, judged together: the clusters are also compared with each other.
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
