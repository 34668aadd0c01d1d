//! `kubectl asm-authz explain`: the runbook's "Authorization policy denial logging". Reads istio-proxy access
//! logs (live from pods, or `-f FILE|-`) or Cloud Logging exports, aggregates denials by policy and rule, and
//! looks each rule up in the cluster.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

use asm_core::checks::authz::denials::{self, Aggregate, AllowPolicy, Cause, ExplainContext};
use asm_core::checks::authz::policies::{Workload, applicable};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, parse_duration};
use asm_core::cluster::authz::services_selecting;
use asm_core::cluster::logs::{LogRequest, pods_with_container, stream_lines};
use asm_core::cluster::{
    Cluster, ClusterError, IstioKind, connect_all, find_pod, list_dynamic, parse_pod_ref, selected_contexts,
};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report};
use asm_core::parse::access_log::Line;
use asm_core::parse::cloud_logging::Reader;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read a saved log instead of pods: istio-proxy TEXT or JSON access log, or a Cloud Logging JSON export
    /// (array or one entry a line); `-` for stdin. Rules are looked up only with an explicit --context.
    #[arg(short = 'f', long = "filename", value_name = "FILE|-", conflicts_with = "pod")]
    pub file: Option<String>,
    /// Read one pod's istio-proxy log: POD[.NS] (default: every pod with an istio-proxy in -n / -A)
    #[arg(long, value_name = "POD[.NS]")]
    pub pod: Option<String>,
    /// The proxy container's name
    #[arg(long, default_value = "istio-proxy")]
    pub container: String,
    /// Only log lines newer than this (like kubectl logs --since)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only the last N lines of each pod's log
    #[arg(long, value_name = "N")]
    pub tail: Option<i64>,
    /// The mesh's root namespace, whose policies apply mesh-wide
    #[arg(long, default_value = "istio-system")]
    pub root_namespace: String,
    /// How long reading one pod's log may take
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2m")]
    pub log_timeout: Duration,
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    if let Some(t) = a.tail
        && t < 1
    {
        return Err(CliError::usage(
            "--tail must be 1 or more (--tail 0 would read no line; leave it out to read whole logs)",
        ));
    }
    match &a.file {
        Some(file) => offline(g, a, file).await,
        None => live(g, a).await,
    }
}

/// Feed one line to the reader and the aggregate.
fn take(reader: &mut Reader, agg: &mut Aggregate, line: &str, workload: Option<&str>) {
    agg.lines += 1;
    let n = agg.lines;
    for l in reader.push_line(line) {
        match l {
            Line::Record(r) => agg.add(&r, workload),
            Line::Malformed(m) => agg.malformed(n, &m),
            Line::NotAccessLog => {}
        }
    }
}

fn read_input(file: &str, agg: &mut Aggregate) -> Result<Option<String>, CliError> {
    let input: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file).map_err(|e| CliError::usage(format!("cannot read {file}: {e}")))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut reader = Reader::new();
    let mut buf = Vec::new();
    let mut input = input;
    loop {
        buf.clear();
        let n = input.read_until(b'\n', &mut buf).map_err(|e| CliError::usage(format!("cannot read {file}: {e}")))?;
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        take(&mut reader, agg, line.trim_end_matches(['\n', '\r']), None);
    }
    Ok(reader.finish())
}

async fn offline(g: &GlobalArgs, a: &Args, file: &str) -> Result<Outcome, CliError> {
    let name = if file == "-" { "stdin" } else { file };
    let resolve = !g.cluster.contexts.is_empty() || g.cluster.all_contexts;
    if g.output.print_commands {
        let mut planned = Vec::new();
        if resolve {
            for ctx in selected_contexts(&g.cluster.selection())? {
                planned.push(PlannedCommand {
                    purpose: "the AuthorizationPolicies the denials name".into(),
                    command: list_command(g, &ctx),
                    context: ctx,
                });
            }
        } else {
            planned.push(PlannedCommand {
                context: String::new(),
                purpose: format!("nothing: {name} is read offline (add --context to look the rules up)"),
                command: format!("# read {name}"),
            });
        }
        return Ok(Outcome::Commands(planned));
    }
    let mut agg = Aggregate::default();
    let truncated = read_input(file, &mut agg)?;
    let mut notes: Vec<String> = truncated.into_iter().collect();
    if !resolve {
        let cx = ExplainContext {
            input: name.into(),
            policies: Err("offline: pass --context to look the rules up in a cluster".into()),
            notes,
            ..Default::default()
        };
        return Ok(Outcome::Report(Report::new(denials::findings(&agg, &cx))));
    }
    let clusters = connect_all(&g.cluster.selection()).await?;
    let mut findings = Vec::new();
    for c in &clusters {
        let policies = list_dynamic(c, IstioKind::AuthorizationPolicy, None).await.map_err(|e| e.to_string());
        let allow = match &policies {
            Ok(list) if agg.groups.contains_key(&Cause::NoAllowMatch) => {
                allow_by_namespace(list, &agg, &a.root_namespace)
            }
            _ => Vec::new(),
        };
        let cx = ExplainContext {
            context: c.context.clone(),
            input: name.into(),
            policies,
            allow_policies: allow,
            notes: std::mem::take(&mut notes),
            commands: vec![list_command(g, &c.context)],
        };
        findings.extend(denials::findings(&agg, &cx));
    }
    Ok(Outcome::Report(Report::new(findings)))
}

fn list_command(g: &GlobalArgs, ctx: &str) -> String {
    KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(ctx))
        .args(["get", "authorizationpolicies.security.istio.io", "-A", "-o", "yaml"])
        .render()
}

/// Offline there is no pod: the ALLOW policies of the namespaces the denied requests were addressed to
/// (`svc.NS:port`) and of the root namespace, selectors shown but not evaluated.
fn allow_by_namespace(policies: &[Value], agg: &Aggregate, root: &str) -> Vec<AllowPolicy> {
    let Some(g) = agg.groups.get(&Cause::NoAllowMatch) else {
        return Vec::new();
    };
    let mut namespaces: Vec<String> = g
        .destinations
        .counts
        .keys()
        .filter_map(|d| {
            let host = d.split(':').next()?;
            let ns = host.split('.').nth(1)?;
            (!ns.is_empty() && ns.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
                .then(|| ns.to_owned())
        })
        .collect();
    namespaces.push(root.to_owned());
    namespaces.sort();
    namespaces.dedup();
    policies
        .iter()
        .filter(|p| asm_core::checks::authz::policies::action_of(p) == "ALLOW")
        .filter_map(|p| {
            let ns = p.pointer("/metadata/namespace")?.as_str()?;
            let name = p.pointer("/metadata/name")?.as_str()?;
            if !namespaces.iter().any(|n| n == ns) {
                return None;
            }
            let sel = p
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|s| !s.is_empty());
            let applies = match (ns == root, sel) {
                (true, None) => "mesh-wide (root namespace)".to_owned(),
                (true, Some(s)) => format!("root namespace, selector {s}"),
                (false, None) => format!("namespace-wide in {ns}"),
                (false, Some(s)) => format!("in {ns}, selector {s} (not checked offline)"),
            };
            Some(AllowPolicy {
                policy: format!("{ns}/{name}"),
                rules: p.pointer("/spec/rules").and_then(Value::as_array).map_or(0, Vec::len),
                applies,
            })
        })
        .collect()
}

fn log_request<'a>(a: &Args, ns: &'a str, pod: &'a str, container: &'a str) -> LogRequest<'a> {
    LogRequest { namespace: ns, pod, container, since: a.since, tail: a.tail, timeout: a.log_timeout }
}

async fn live(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let pod_ref = match &a.pod {
        Some(p) => {
            Some(parse_pod_ref(p, g.cluster.namespace.as_deref()).map_err(|e| CliError::usage(format!("--pod: {e}")))?)
        }
        None => None,
    };
    let sel = g.cluster.selection();
    if g.output.print_commands {
        let mut planned = Vec::new();
        for ctx in selected_contexts(&sel)? {
            let k = || KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&ctx));
            let logs = match &pod_ref {
                Some(p) => {
                    let ns = p.namespace.clone().unwrap_or_else(|| "NAMESPACE".into());
                    k().args(log_request(a, &ns, &p.name, &a.container).kubectl_args())
                }
                None => {
                    let scope = match (&g.cluster.namespace, g.cluster.all_namespaces) {
                        (_, true) => vec!["-A".to_owned()],
                        (Some(ns), _) => vec!["-n".to_owned(), ns.clone()],
                        _ => vec![],
                    };
                    k().args(["get", "pods"]).args(scope).args(["-o", "name", "--field-selector=status.phase=Running"])
                }
            };
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: match &pod_ref {
                    Some(_) => "the proxy's access log".into(),
                    None => format!(
                        "pods with an {} container; then kubectl logs POD -c {} for each",
                        a.container, a.container
                    ),
                },
                command: logs.render(),
            });
            planned.push(PlannedCommand {
                purpose: "the AuthorizationPolicies the denials name".into(),
                command: list_command(g, &ctx),
                context: ctx,
            });
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&sel).await?;
    let mut findings = Vec::new();
    for c in &clusters {
        match explain_cluster(c, g, a, pod_ref.as_ref()).await {
            Ok(f) => findings.extend(f),
            Err(e) => findings.push(asm_core::cli::error_finding(CheckId::AuthzDenials, &c.context, "", &e)),
        }
    }
    Ok(Outcome::Report(Report::new(findings)))
}

async fn explain_cluster(
    c: &Cluster,
    g: &GlobalArgs,
    a: &Args,
    pod_ref: Option<&asm_core::cluster::PodRef>,
) -> Result<Vec<Finding>, ClusterError> {
    let (pods, input): (Vec<Pod>, String) = match pod_ref {
        Some(r) => {
            let p = find_pod(c, r).await?;
            let input = format!("{}/{} -c {}", p.namespace, p.name, a.container);
            (vec![p.pod], input)
        }
        None => {
            let ns = if g.cluster.all_namespaces {
                None
            } else {
                Some(g.cluster.namespace.clone().unwrap_or_else(|| c.default_namespace.clone()))
            };
            let pods = pods_with_container(c, ns.as_deref(), &a.container).await?;
            let input = match &ns {
                Some(ns) => format!("{} logs of pods in {ns}", a.container),
                None => format!("{} logs of pods in all namespaces", a.container),
            };
            (pods, input)
        }
    };
    // Say how much of each log was read: an empty window must not read as "access logging is off".
    let window: Vec<String> = a
        .tail
        .map(|t| format!("last {t} lines of each"))
        .into_iter()
        .chain(a.since.map(|d| format!("since {}s ago", d.as_secs().max(1))))
        .collect();
    let input = if window.is_empty() { input } else { format!("{input} ({})", window.join(", ")) };
    let mut agg = Aggregate::default();
    let mut notes = Vec::new();
    let mut commands = Vec::new();
    if pods.is_empty() {
        notes.push(format!("no running pod has an {} container here: is sidecar injection enabled?", a.container));
    }
    let mut by_workload: BTreeMap<String, Pod> = BTreeMap::new();
    for pod in pods {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let workload = format!("{ns}/{name}");
        let req = log_request(a, &ns, &name, &a.container);
        commands.push(
            KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&c.context)).args(req.kubectl_args()).render(),
        );
        let mut reader = Reader::new();
        let read = stream_lines(c, &req, |line| take(&mut reader, &mut agg, line, Some(&workload))).await;
        if let Err(e) = read {
            notes.push(format!("could not read {workload}: {e}"));
        }
        by_workload.insert(workload, pod);
    }
    commands.push(list_command(g, &c.context));
    let policies = list_dynamic(c, IstioKind::AuthorizationPolicy, None).await.map_err(|e| e.to_string());
    let mut allow = Vec::new();
    if let (Ok(list), Some(grp)) = (&policies, agg.groups.get(&Cause::NoAllowMatch)) {
        for w in grp.workloads.counts.keys() {
            let Some(pod) = by_workload.get(w) else {
                continue;
            };
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            let services = services_selecting(c, &ns, &labels).await.unwrap_or_default();
            let workload =
                Workload { namespace: ns, name: pod.metadata.name.clone().unwrap_or_default(), labels, services };
            for p in applicable(list, &workload, &a.root_namespace) {
                if p.action == "ALLOW" && !p.dry_run {
                    let entry =
                        AllowPolicy { policy: p.policy, rules: p.rules, applies: format!("{} for {w}", p.applies) };
                    if !allow.contains(&entry) {
                        allow.push(entry);
                    }
                }
            }
        }
    }
    let cx = ExplainContext { context: c.context.clone(), input, policies, allow_policies: allow, notes, commands };
    Ok(denials::findings(&agg, &cx))
}
