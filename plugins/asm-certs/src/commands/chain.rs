//! `kubectl asm-certs chain`: the runbook's step 3, the chain a destination serves, three ways: `exec` runs
//! `openssl s_client` in istio-proxy as the runbook does; `debug` runs it from an ephemeral container that
//! targets istio-proxy (current proxy images have no openssl); `admin` needs no exec at all and reads the
//! source pod's own sidecar certificates from Envoy's admin interface through a port-forward.

use std::time::Duration;

use asm_core::checks::certs::admin::{parse_certs_endpoint, parse_secrets_dump};
use asm_core::checks::certs::chain::{ChainEvidence, check_chain};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, confirm, for_each_cluster, parse_duration};
use asm_core::cluster::debug::{DebugRun, run_ephemeral};
use asm_core::cluster::portforward::http_get;
use asm_core::cluster::{
    self, Cluster, ClusterError, ExecRequest, PodRef, connect_all, parse_pod_ref, probe_source, selected_contexts,
};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report, Status};
use asm_core::parse::sclient::parse_sclient;
use asm_core::parse::xfcc::SpiffeId;
use openssl::x509::X509;

use super::common::{ExpiryArgs, mesh_roots, now, trust_domain};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// openssl s_client in the istio-proxy container (the runbook's step)
    Exec,
    /// openssl s_client from an ephemeral debug container targeting istio-proxy (changes the pod: asks first)
    Debug,
    /// the source pod's own certificates from Envoy's admin interface (port 15000) through a port-forward
    Admin,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source pod: POD[.NS], deploy/NAME[.NS], or a workload name matched by its app label
    #[arg(long, value_name = "POD[.NS]")]
    pub from: String,
    /// Destination HOST:PORT, as the runbook's `-connect httpbin.sample:8000` (not needed with --method admin)
    #[arg(long, value_name = "HOST:PORT", required_unless_present_any = ["method"])]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value_t = Method::Exec)]
    pub method: Method,
    /// Image for --method debug; it must contain openssl
    #[arg(long, default_value = "nicolaka/netshoot")]
    pub image: String,
    /// Do not ask before adding the debug container
    #[arg(long)]
    pub yes: bool,
    /// The mesh's trust domain (default: meshConfig.trustDomain from ConfigMap istio in --istio-namespace)
    #[arg(long, value_name = "TD")]
    pub trust_domain: Option<String>,
    #[arg(long, default_value = "istio-system")]
    pub istio_namespace: String,
    /// How long the probe may take
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "20s")]
    pub probe_timeout: Duration,
    #[command(flatten)]
    pub expiry: ExpiryArgs,
}

fn sclient_argv(to: &str) -> Vec<String> {
    ["openssl", "s_client", "-alpn", "istio", "-showcerts", "-connect", to].map(String::from).into()
}

fn destination(a: &Args) -> Result<String, CliError> {
    let to = a.to.as_deref().ok_or_else(|| CliError::usage("--to HOST:PORT is needed with --method exec|debug"))?;
    match to.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(to.to_owned()),
        _ => Err(CliError::usage(format!("--to {to:?} is not HOST:PORT (e.g. httpbin.sample:8000)"))),
    }
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let src =
        parse_pod_ref(&a.from, g.cluster.namespace.as_deref()).map_err(|e| CliError::usage(format!("--from: {e}")))?;
    let to = if a.method == Method::Admin { a.to.clone().unwrap_or_default() } else { destination(a)? };
    let sel = g.cluster.selection();
    if g.output.print_commands {
        let mut planned = Vec::new();
        for ctx in selected_contexts(&sel)? {
            let kc = || KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&ctx));
            let ns = src.namespace.clone();
            let (purpose, cmd) = match a.method {
                Method::Exec => (
                    "the chain the destination serves".to_owned(),
                    kc().exec_planned(&src.name, ns.as_deref(), "istio-proxy", &sclient_argv(&to)).render(),
                ),
                Method::Debug => {
                    let mut args = vec!["debug".to_owned(), src.name.clone()];
                    if let Some(n) = &ns {
                        args.extend(["-n".into(), n.clone()]);
                    }
                    args.extend([
                        "--image".into(),
                        a.image.clone(),
                        "--target".into(),
                        "istio-proxy".into(),
                        "--".into(),
                    ]);
                    args.extend(sclient_argv(&to));
                    (
                        "the chain, from an ephemeral debug container (cannot be removed afterwards)".to_owned(),
                        kc().args(args).render(),
                    )
                }
                Method::Admin => {
                    let mut args = vec!["port-forward".to_owned(), src.name.clone()];
                    if let Some(n) = &ns {
                        args.extend(["-n".into(), n.clone()]);
                    }
                    args.push("15000:15000".into());
                    ("the sidecar's own certificates: then curl 'localhost:15000/config_dump?resource=dynamic_active_secrets' and curl localhost:15000/certs".to_owned(), kc().args(args).render())
                }
            };
            planned.push(PlannedCommand { context: ctx.clone(), purpose, command: cmd });
            let mut cm = vec!["get".to_owned(), "configmap".into(), "istio-ca-root-cert".into()];
            if let Some(n) = &ns {
                cm.extend(["-n".into(), n.clone()]);
            }
            cm.extend(["-o".into(), "jsonpath={.data.root-cert\\.pem}".into()]);
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "the root the sidecars trust".into(),
                command: kc().args(cm).render(),
            });
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&sel).await?;
    if a.method == Method::Debug {
        let where_ = clusters.iter().map(|c| c.context.as_str()).collect::<Vec<_>>().join(", ");
        let ok = confirm(
            &format!(
                "Add an ephemeral debug container ({}) to pod {} in {where_}? Ephemeral containers cannot be removed; it stays (terminated) until the pod is deleted",
                a.image, a.from
            ),
            a.yes,
        )?;
        if !ok {
            return Err(CliError::usage("not confirmed: nothing was changed"));
        }
    }
    let findings = for_each_cluster(&clusters, CheckId::CertsChain, |c| probe(c, g, a, &src, &to)).await;
    Ok(Outcome::Report(Report::new(findings)))
}

fn error(c: &Cluster, target: &str, summary: String, command: Option<String>) -> Finding {
    let mut f = Finding::new(CheckId::CertsChain, &c.context, target).status(Status::Error, summary);
    if let Some(cmd) = command {
        f = f.command(cmd);
    }
    f
}

fn openssl_missing(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("openssl")
        && (t.contains("executable file not found") || t.contains("not found") || t.contains("no such file"))
}

async fn probe(c: Cluster, g: &GlobalArgs, a: &Args, src: &PodRef, to: &str) -> Result<Vec<Finding>, ClusterError> {
    let (pod, _) = probe_source(&c, src, Some("istio-proxy")).await?;
    let (td, td_source) = trust_domain(&c, a.trust_domain.as_deref(), &a.istio_namespace).await?;
    let roots = mesh_roots(&c, &pod.namespace).await?;
    let kc = || KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&c.context));
    let argv = sclient_argv(to);
    let mut ev = ChainEvidence { mesh_roots: roots, trust_domain: Some((td.clone(), td_source)), ..Default::default() };
    let target;
    match a.method {
        Method::Exec => {
            target = format!("{}/{} -> {to}", pod.namespace, pod.name);
            let command = kc().exec(&pod.name, Some(&pod.namespace), "istio-proxy", &argv).render();
            let req = ExecRequest {
                namespace: &pod.namespace,
                pod: &pod.name,
                container: "istio-proxy",
                argv: &argv,
                timeout: a.probe_timeout,
            };
            let out = match cluster::exec(&c, &req).await {
                Ok(o) => o,
                Err(e) => return Ok(vec![error(&c, &target, e.to_string(), Some(command))]),
            };
            let all = format!("{}{}", out.stdout, out.stderr);
            if openssl_missing(&format!("{all}{}", out.describe_exit())) {
                let f = error(&c, &target, "openssl is not in the istio-proxy image (current proxy images ship without it)".into(), Some(command))
                    .evidence(out.describe_exit())
                    .remediation(format!("read the sidecar's certificates without exec: kubectl asm-certs chain --from {}.{} --method admin", pod.name, pod.namespace))
                    .remediation(format!("or run openssl from an ephemeral debug container (cannot be removed afterwards): kubectl asm-certs chain --from {}.{} --to {to} --method debug", pod.name, pod.namespace));
                return Ok(vec![f]);
            }
            let parsed = match parse_sclient(&all) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(vec![
                        error(&c, &target, format!("openssl s_client printed nothing usable: {e}"), Some(command))
                            .evidence(out.describe_exit()),
                    ]);
                }
            };
            ev.certs = parsed.pems.iter().filter_map(|p| X509::from_pem(p.as_bytes()).ok()).collect();
            ev.handshake = Some(parsed.handshake_story());
            ev.source = format!("openssl s_client in {}/{} istio-proxy", pod.namespace, pod.name);
            ev.commands = vec![command];
        }
        Method::Debug => {
            target = format!("{}/{} -> {to}", pod.namespace, pod.name);
            let name = format!("asm-certs-{}", now() % 1_000_000);
            let mut args = vec![
                "debug".to_owned(),
                pod.name.clone(),
                "-n".into(),
                pod.namespace.clone(),
                "--image".into(),
                a.image.clone(),
                "--target".into(),
                "istio-proxy".into(),
                "--".into(),
            ];
            args.extend(argv.iter().cloned());
            let command = kc().args(args).render();
            let run = DebugRun {
                namespace: &pod.namespace,
                pod: &pod.name,
                name: &name,
                image: &a.image,
                target: "istio-proxy",
                argv: &argv,
                timeout: a.probe_timeout + Duration::from_secs(60),
            };
            let log = match run_ephemeral(&c, &run).await {
                Ok(l) => l,
                Err(e) => return Ok(vec![error(&c, &target, e.to_string(), Some(command))]),
            };
            let parsed = match parse_sclient(&log) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(vec![
                        error(
                            &c,
                            &target,
                            format!("the debug container's openssl printed nothing usable: {e}"),
                            Some(command),
                        )
                        .evidence(log.lines().last().unwrap_or_default().to_owned()),
                    ]);
                }
            };
            ev.certs = parsed.pems.iter().filter_map(|p| X509::from_pem(p.as_bytes()).ok()).collect();
            ev.handshake = Some(parsed.handshake_story());
            ev.source = format!(
                "openssl s_client in ephemeral container {name} of {}/{} (it stays in the pod spec, terminated, until the pod is deleted)",
                pod.namespace, pod.name
            );
            ev.commands = vec![command];
        }
        Method::Admin => {
            target = format!("{}/{} (its sidecar's own certificate)", pod.namespace, pod.name);
            let command = kc()
                .args([
                    "port-forward".to_owned(),
                    pod.name.clone(),
                    "-n".into(),
                    pod.namespace.clone(),
                    "15000:15000".into(),
                ])
                .render();
            let secrets = http_get(
                &c,
                &pod.namespace,
                &pod.name,
                15000,
                "/config_dump?resource=dynamic_active_secrets",
                a.probe_timeout,
            )
            .await;
            let secrets_cmd = "curl -s 'http://localhost:15000/config_dump?resource=dynamic_active_secrets'".to_owned();
            match secrets.map(|(code, body)| (code, String::from_utf8_lossy(&body).into_owned())) {
                Ok((200, body)) => match parse_secrets_dump(&body) {
                    Ok(s) => {
                        ev.certs = s.chain;
                        if ev.mesh_roots.is_none() && !s.roots.is_empty() {
                            ev.mesh_roots = Some(asm_core::checks::certs::chain::MeshRoots {
                                source: "the sidecar's ROOTCA secret".into(),
                                roots: s.roots,
                            });
                        }
                        ev.source = format!("Envoy admin secrets of {}/{}", pod.namespace, pod.name);
                    }
                    Err(e) => {
                        return Ok(vec![
                            admin_fallback(&c, &target, &pod.namespace, &pod.name, a, e, vec![command, secrets_cmd])
                                .await,
                        ]);
                    }
                },
                Ok((code, _)) => {
                    return Ok(vec![
                        admin_fallback(
                            &c,
                            &target,
                            &pod.namespace,
                            &pod.name,
                            a,
                            format!("config_dump answered HTTP {code}"),
                            vec![command, secrets_cmd],
                        )
                        .await,
                    ]);
                }
                Err(e) => return Ok(vec![error(&c, &target, e.to_string(), Some(command))]),
            }
            ev.expected_identity = Some(SpiffeId::new(&td, &pod.namespace, &pod.service_account()));
            ev.commands = vec![command, secrets_cmd];
        }
    }
    Ok(check_chain(&ev, &c.context, &target, now(), a.expiry.policy()))
}

/// Without PEM, `/certs` still tells SANs and expiry: report them, but the chain cannot be verified.
async fn admin_fallback(
    c: &Cluster,
    target: &str,
    ns: &str,
    pod: &str,
    a: &Args,
    why: String,
    commands: Vec<String>,
) -> Finding {
    let mut f = Finding::new(CheckId::CertsChain, &c.context, target);
    for cmd in commands {
        f = f.command(cmd);
    }
    f = f.command("curl -s http://localhost:15000/certs");
    match http_get(c, ns, pod, 15000, "/certs", a.probe_timeout).await {
        Ok((200, body)) => match parse_certs_endpoint(&String::from_utf8_lossy(&body)) {
            Ok(certs) => {
                for s in &certs {
                    f = f.evidence(format!(
                        "{} serial {} SANs {} expires {} ({} days)",
                        s.role,
                        s.serial_number,
                        s.subject_alt_names.join(","),
                        s.expiration_time.clone().unwrap_or_default(),
                        s.days_until_expiration.unwrap_or_default()
                    ));
                }
                f.status(Status::Warn, format!("only certificate summaries were available ({why}); the chain's signatures could not be verified"))
                    .data(serde_json::json!({"summaries": certs}))
            }
            Err(e) => f.status(Status::Error, format!("{why}; /certs: {e}")),
        },
        Ok((code, _)) => f.status(Status::Error, format!("{why}; /certs answered HTTP {code}")),
        Err(e) => f.status(Status::Error, format!("{why}; /certs: {e}")),
    }
}
