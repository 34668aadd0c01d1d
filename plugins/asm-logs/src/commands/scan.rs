//! `kubectl asm-logs scan`: the runbook's istiod log signatures over every istiod pod and revision of each
//! context (or over saved files), then the follow-up checks the runbook prescribes for what was found:
//! the injector caBundle for bad certificates, the RBAC chain and a SubjectAccessReview for forbidden
//! lists, the JWT policy for serverca failures.

use std::io::{IsTerminal, Read};
use std::time::Duration;

use asm_core::checks::logs::remediation::follow_up_error;
use asm_core::checks::logs::{ContextScan, MeshFacts, SourceInfo, judge, judge_chain};
use asm_core::checks::tls::webhook::check_all;
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, for_each_cluster, parse_duration};
use asm_core::cluster::mesh::injector_snapshot;
use asm_core::cluster::rbac::{deployments, rbac_objects, subject_access_review};
use asm_core::cluster::{Cluster, ClusterError, connect_all, selected_contexts};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report, Status};
use asm_core::parse::istiod_log::{Anchors, LineBuffer, Scanner, SignatureKind, SourceStats};
use futures::AsyncReadExt;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, LogParams};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scan saved logs instead of a cluster; repeat for several files; `-` is stdin; gzip is detected
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,
    /// Namespace of the control plane (pods labelled app=istiod)
    #[arg(long, default_value = "istio-system")]
    pub istio_namespace: String,
    /// Only this revision's istiod (istio.io/rev label; `default` for the unlabelled one)
    #[arg(long)]
    pub revision: Option<String>,
    /// Container to read
    #[arg(long, default_value = "discovery")]
    pub container: String,
    /// Only log lines newer than this (like kubectl logs --since: 30m, 2h)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only the last N lines of each pod (like kubectl logs --tail)
    #[arg(long, value_name = "N")]
    pub tail: Option<i64>,
    /// Google Cloud project id for the IAM binding command (default: from a gke_PROJECT_LOCATION_CLUSTER context name)
    #[arg(long)]
    pub project: Option<String>,
    /// Google Cloud project number for the IAM binding command
    #[arg(long)]
    pub project_number: Option<String>,
    /// Do not run the follow-up checks (caBundle, RBAC chain, SubjectAccessReview) for signatures found
    #[arg(long)]
    pub no_follow_up: bool,
}

fn kubectl(g: &GlobalArgs, ctx: &str) -> KubectlCommand {
    KubectlCommand::new(g.cluster.kubeconfig.as_deref(), (!ctx.is_empty()).then_some(ctx))
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    if !a.files.is_empty() {
        if g.output.print_commands {
            return Ok(Outcome::Commands(Vec::new()));
        }
        return scan_files(g, a).await;
    }
    let sel = g.cluster.selection();
    if g.output.print_commands {
        let mut planned = Vec::new();
        for ctx in selected_contexts(&sel)? {
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "find istiod pods and revisions".into(),
                command: kubectl(g, &ctx)
                    .args(["get", "pods", "-n", &a.istio_namespace, "-l", "app=istiod", "-L", "istio.io/rev"])
                    .render(),
            });
            let mut logs = vec![
                "logs".to_owned(),
                "-n".into(),
                a.istio_namespace.clone(),
                "-l".into(),
                "app=istiod".into(),
                "-c".into(),
                a.container.clone(),
            ];
            if let Some(s) = a.since {
                logs.push(format!("--since={}s", s.as_secs().max(1)));
            }
            if let Some(t) = a.tail {
                logs.push(format!("--tail={t}"));
            } else {
                logs.push("--tail=-1".into());
            }
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "read every istiod pod's log (per pod, streamed)".into(),
                command: kubectl(g, &ctx).args(logs).render()
                    + " | grep -E 'TLS handshake error.*bad certificate|error.*cannot list resource|serverca.*Authentication failed:.*JWT'",
            });
        }
        return Ok(Outcome::Commands(planned));
    }
    let clusters = connect_all(&sel).await?;
    let findings = for_each_cluster(&clusters, CheckId::LogsSources, |c| scan_cluster(c, g, a)).await;
    Ok(Outcome::Report(Report::new(findings)))
}

/// The project id from a GKE context name `gke_PROJECT_LOCATION_CLUSTER`.
fn project_from_context(ctx: &str) -> Option<String> {
    let rest = ctx.strip_prefix("gke_")?;
    let parts: Vec<&str> = rest.split('_').collect();
    (parts.len() >= 3).then(|| parts[0].to_owned())
}

async fn scan_files(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let files = a.files.clone();
    let progress = std::io::stderr().is_terminal();
    let sources = tokio::task::spawn_blocking(move || {
        let anchors = Anchors::new();
        let mut buf = LineBuffer::new(LineBuffer::DEFAULT_CAPACITY);
        files
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let info = SourceInfo { name: path.clone(), ..Default::default() };
                match scan_file(&anchors, &mut buf, i, path, progress) {
                    Ok(s) => (info, s),
                    Err(e) => (SourceInfo { error: Some(e), ..info }, SourceStats::default()),
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| CliError::usage(format!("the scan stopped: {e}")))?;
    if sources.iter().all(|(i, _)| i.error.is_some()) {
        let why: Vec<String> =
            sources.iter().map(|(i, _)| format!("{}: {}", i.name, i.error.as_deref().unwrap_or(""))).collect();
        return Err(CliError::usage(format!("no log could be read: {}", why.join("; "))));
    }
    let facts = MeshFacts {
        kubeconfig: g.cluster.kubeconfig.clone(),
        istio_namespace: a.istio_namespace.clone(),
        project_id: a.project.clone(),
        project_number: a.project_number.clone(),
        ..Default::default()
    };
    let scan = ContextScan { context: String::new(), sources };
    Ok(Outcome::Report(Report::new(judge(&scan, &facts))))
}

fn scan_file(
    anchors: &Anchors,
    buf: &mut LineBuffer,
    index: usize,
    path: &str,
    progress: bool,
) -> Result<SourceStats, String> {
    if let Some(len) = ranged_candidate(path) {
        return scan_ranges(anchors, index, path, len, progress);
    }
    let reader: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?)
    };
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
    // gzip is told by its magic bytes, so a .log that is really compressed (or the reverse) still reads.
    let is_gzip = {
        use std::io::BufRead;
        let head = reader.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
        head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b
    };
    let mut input: Box<dyn Read> = if is_gzip {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader.into_inner_with_buffer())
    };
    let mut scanner = Scanner::new(anchors, index);
    let mut next_note = 1u64 << 30;
    let mut total = 0u64;
    loop {
        let n = match input.read(buf.spare()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read failed after {total} bytes: {e}")),
        };
        total += n as u64;
        buf.filled(n, &mut scanner);
        if progress && total >= next_note {
            asm_core::render::print_note(&format!("{path}: {} MiB scanned", total >> 20));
            next_note += 1 << 30;
        }
    }
    buf.finish(&mut scanner);
    Ok(scanner.finish())
}

/// Plain files at least this large are scanned in ranges, one per core (at most 4), split at line boundaries;
/// the ranges' stats are appended in order, which gives exactly what one pass gives (tested in asm-core).
const RANGED_MIN: u64 = 64 << 20;

/// The length of `path` when it should be scanned in ranges: a regular, uncompressed file of at least
/// [`RANGED_MIN`] bytes, on a machine with more than one core.
fn ranged_candidate(path: &str) -> Option<u64> {
    if path == "-" || std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() < RANGED_MIN {
        return None;
    }
    let mut head = [0u8; 2];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    (head != [0x1f, 0x8b]).then_some(meta.len())
}

fn scan_ranges(anchors: &Anchors, index: usize, path: &str, len: u64, progress: bool) -> Result<SourceStats, String> {
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4) as u64;
    let mut bounds = vec![0u64];
    for k in 1..parts {
        let at = next_line_start(path, len * k / parts)?;
        if at > *bounds.last().unwrap_or(&0) && at < len {
            bounds.push(at);
        }
    }
    bounds.push(len);
    if progress {
        asm_core::render::print_note(&format!("{path}: scanning {} MiB in {} ranges", len >> 20, bounds.len() - 1));
    }
    let results: Vec<Result<SourceStats, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (start, end) = (w[0], w[1]);
                scope.spawn(move || scan_range(anchors, index, path, start, end))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a scan thread stopped".into()))).collect()
    });
    let mut total: Option<SourceStats> = None;
    for r in results {
        let stats = r?;
        match total.as_mut() {
            None => total = Some(stats),
            Some(t) => t.append(stats),
        }
    }
    Ok(total.unwrap_or_default())
}

/// The offset of the first line that starts at or after `from` (the byte after the next newline).
fn next_line_start(path: &str, from: u64) -> Result<u64, String> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    f.seek(SeekFrom::Start(from)).map_err(|e| format!("cannot seek: {e}"))?;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pos = from;
    loop {
        let n = f.read(&mut chunk).map_err(|e| format!("read failed at byte {pos}: {e}"))?;
        if n == 0 {
            return Ok(pos);
        }
        if let Some(i) = chunk[..n].iter().position(|b| *b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
}

fn scan_range(anchors: &Anchors, index: usize, path: &str, start: u64, end: u64) -> Result<SourceStats, String> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    f.seek(SeekFrom::Start(start)).map_err(|e| format!("cannot seek: {e}"))?;
    let mut input = f.take(end - start);
    let mut buf = LineBuffer::new(LineBuffer::DEFAULT_CAPACITY);
    let mut scanner = Scanner::new(anchors, index);
    loop {
        match input.read(buf.spare()) {
            Ok(0) => break,
            Ok(n) => buf.filled(n, &mut scanner),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read failed in bytes {start}..{end}: {e}")),
        }
    }
    buf.finish(&mut scanner);
    Ok(scanner.finish())
}

/// `BufReader::into_inner` would drop what `fill_buf` already read; keep it in front of the rest.
trait IntoInnerWithBuffer {
    fn into_inner_with_buffer(self) -> Box<dyn Read>;
}

impl IntoInnerWithBuffer for std::io::BufReader<Box<dyn Read>> {
    fn into_inner_with_buffer(self) -> Box<dyn Read> {
        let buffered = self.buffer().to_vec();
        let inner = self.into_inner();
        Box::new(std::io::Cursor::new(buffered).chain(inner))
    }
}

async fn scan_cluster(c: Cluster, g: &GlobalArgs, a: &Args) -> Result<Vec<Finding>, ClusterError> {
    let ns = &a.istio_namespace;
    let pods_api: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    let mut pods = pods_api
        .list(&ListParams::default().labels("app=istiod"))
        .await
        .map_err(|e| ClusterError::from_kube(&c.context, "list", "pods", Some(ns), e))?
        .items;
    let rev_of = |p: &Pod| {
        p.metadata.labels.as_ref().and_then(|l| l.get("istio.io/rev").cloned()).unwrap_or_else(|| "default".into())
    };
    if let Some(r) = &a.revision {
        pods.retain(|p| &rev_of(p) == r);
    }
    pods.sort_by(|x, y| x.metadata.name.cmp(&y.metadata.name));
    if pods.is_empty() {
        return Ok(vec![no_istiod(&c, g, a).await]);
    }
    let anchors = Anchors::new();
    let mut buf = LineBuffer::new(LineBuffer::DEFAULT_CAPACITY);
    let mut sources = Vec::new();
    let mut commands = Vec::new();
    for (i, p) in pods.iter().enumerate() {
        let name = p.metadata.name.clone().unwrap_or_default();
        let containers: Vec<String> =
            p.spec.as_ref().map(|s| s.containers.iter().map(|c| c.name.clone()).collect()).unwrap_or_default();
        let container = if containers.contains(&a.container) || containers.is_empty() {
            a.container.clone()
        } else {
            containers[0].clone()
        };
        let mut args = vec!["logs".to_owned(), name.clone(), "-n".into(), ns.clone(), "-c".into(), container.clone()];
        if let Some(s) = a.since {
            args.push(format!("--since={}s", s.as_secs().max(1)));
        }
        if let Some(t) = a.tail {
            args.push(format!("--tail={t}"));
        }
        commands.push(kubectl(g, &c.context).args(args).render());
        let info = SourceInfo {
            name: format!("{ns}/{name} -c {container}"),
            pod: Some(name.clone()),
            namespace: Some(ns.clone()),
            container: Some(container.clone()),
            revision: Some(rev_of(p)),
            error: None,
        };
        let params = LogParams {
            container: Some(container.clone()),
            since_seconds: a.since.map(|d| d.as_secs().max(1) as i64),
            tail_lines: a.tail,
            ..LogParams::default()
        };
        let mut scanner = Scanner::new(&anchors, i);
        let read = async {
            let mut stream = pods_api
                .log_stream(&name, &params)
                .await
                .map_err(|e| ClusterError::from_kube(&c.context, "get", "pods/log", Some(ns), e).to_string())?;
            loop {
                let n = stream.read(buf.spare()).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                buf.filled(n, &mut scanner);
            }
            buf.finish(&mut scanner);
            Ok::<(), String>(())
        };
        // A log read is bounded by its own timeout, generous because a busy istiod logs hundreds of MiB.
        let limit = c.timeout.max(Duration::from_secs(300));
        let result = match tokio::time::timeout(limit, read).await {
            Ok(r) => r,
            Err(_) => Err(format!("reading the log did not finish within {limit:?}; use --since or --tail")),
        };
        let stats = scanner.finish();
        match result {
            Ok(()) => sources.push((info, stats)),
            Err(e) => sources.push((SourceInfo { error: Some(e), ..info }, stats)),
        }
    }
    let mut facts = MeshFacts {
        kubeconfig: g.cluster.kubeconfig.clone(),
        istio_namespace: ns.clone(),
        project_id: a.project.clone().or_else(|| project_from_context(&c.context)),
        project_number: a.project_number.clone(),
        ..Default::default()
    };
    let deps = match deployments(&c, ns, "app=istiod").await {
        Ok(d) => d,
        Err(e) => {
            if !a.no_follow_up {
                facts.follow_up_errors.push(follow_up_error(
                    CheckId::LogsRbacForbidden,
                    &c.context,
                    "istiod Deployment lookup (service account, JWT_POLICY, restart command)",
                    &e.to_string(),
                    &[("list", "deployments.apps")],
                    None,
                    g.cluster.kubeconfig.as_deref(),
                ));
            }
            Vec::new()
        }
    };
    facts.deployments = deps.iter().filter_map(|d| d.metadata.name.clone()).collect();
    facts.jwt_policy = deps.iter().find_map(|d| {
        d.spec
            .as_ref()?
            .template
            .spec
            .as_ref()?
            .containers
            .iter()
            .find_map(|ct| ct.env.as_ref()?.iter().find(|e| e.name == "JWT_POLICY").and_then(|e| e.value.clone()))
    });
    let found = |k: SignatureKind| sources.iter().any(|(_, s)| s.get(k).count > 0);
    if !a.no_follow_up {
        if found(SignatureKind::TlsBadCertificate) {
            match webhook_findings(&c, g, ns).await {
                Ok(f) => facts.webhook = f,
                Err(e) => facts.follow_up_errors.push(follow_up_error(
                    CheckId::LogsTlsBadCertificate,
                    &c.context,
                    "injector caBundle check",
                    &e.to_string(),
                    &[("list", "mutatingwebhookconfigurations.admissionregistration.k8s.io"), ("get", "configmaps")],
                    Some(format!("kubectl asm-tls webhook --context={}", asm_core::model::shell_quote(&c.context))),
                    g.cluster.kubeconfig.as_deref(),
                )),
            }
        }
        if found(SignatureKind::RbacForbidden) {
            let mut seen = Vec::new();
            let mut chain_error = false;
            let mut sar_error = false;
            'requests: for (_, s) in &sources {
                for (fm, _) in &s.get(SignatureKind::RbacForbidden).forbidden {
                    // The user is part of the key: a line naming another account than the Deployment's is the
                    // runbook's step 4 finding, and must not hide behind a same-resource line.
                    let key = (
                        fm.verb.clone(),
                        fm.resource.clone(),
                        fm.api_group.clone(),
                        fm.namespace.clone(),
                        fm.user.clone(),
                    );
                    if seen.contains(&key) || seen.len() >= 5 || fm.path.is_some() {
                        continue;
                    }
                    seen.push(key);
                    for d in &deps {
                        let objs = match rbac_objects(&c, d, fm.namespace.as_deref()).await {
                            Ok(o) => o,
                            Err(e) => {
                                chain_error = true;
                                let mut grant = vec![
                                    ("list", "clusterroles.rbac.authorization.k8s.io"),
                                    ("list", "clusterrolebindings.rbac.authorization.k8s.io"),
                                ];
                                if fm.namespace.is_some() {
                                    grant.push(("list", "roles.rbac.authorization.k8s.io"));
                                    grant.push(("list", "rolebindings.rbac.authorization.k8s.io"));
                                }
                                facts.follow_up_errors.push(follow_up_error(
                                    CheckId::LogsRbacForbidden,
                                    &c.context,
                                    "RBAC chain (ClusterRoles, bindings, SubjectAccessReview)",
                                    &e.to_string(),
                                    &grant,
                                    None,
                                    g.cluster.kubeconfig.as_deref(),
                                ));
                                // One refusal says it for every request; the manual steps stay in the finding.
                                break 'requests;
                            }
                        };
                        let user =
                            format!("system:serviceaccount:{}:{}", objs.service_account.0, objs.service_account.1);
                        let sar = subject_access_review(
                            &c,
                            &user,
                            &fm.verb,
                            &fm.resource,
                            &fm.api_group,
                            fm.namespace.as_deref(),
                        )
                        .await;
                        if let (Some(e), false) = (&sar.error, sar_error) {
                            sar_error = true;
                            facts.follow_up_errors.push(follow_up_error(
                                CheckId::LogsRbacForbidden,
                                &c.context,
                                "SubjectAccessReview",
                                e,
                                &[("create", "subjectaccessreviews.authorization.k8s.io")],
                                None,
                                g.cluster.kubeconfig.as_deref(),
                            ));
                        }
                        facts.rbac.push(judge_chain(
                            &objs,
                            &fm.verb,
                            &fm.resource,
                            &fm.api_group,
                            fm.namespace.as_deref(),
                            &fm.user,
                            Some(sar),
                        ));
                    }
                }
            }
            if chain_error {
                // A partial chain would read as a verdict; the finding then gives the steps to run by hand.
                facts.rbac.clear();
            }
        }
    }
    let scan = ContextScan { context: c.context.clone(), sources };
    let mut findings = judge(&scan, &facts);
    if let Some(f) = findings.first_mut() {
        f.commands = commands;
    }
    Ok(findings)
}

/// The injector caBundle check of `asm-tls webhook`: the same snapshot (published root and istiod's live serving
/// certificate) and the same pure judgement.
async fn webhook_findings(c: &Cluster, g: &GlobalArgs, istio_namespace: &str) -> Result<Vec<Finding>, ClusterError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let snapshot = injector_snapshot(c, None, istio_namespace, true).await?;
    Ok(check_all(&snapshot, now, 30 * 86_400, &c.context, istio_namespace, || {
        KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(&c.context))
    }))
}

/// No istiod pod: a managed control plane keeps its logs in Cloud Logging, or there is no mesh here.
async fn no_istiod(c: &Cluster, g: &GlobalArgs, a: &Args) -> Finding {
    let ns = &a.istio_namespace;
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), ns);
    let managed_cm = cms.get_opt("asm-options").await.ok().flatten().is_some();
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(c.client.clone());
    let google_webhook = mwcs
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items.iter().any(|m| {
                m.webhooks
                    .iter()
                    .flatten()
                    .any(|w| w.client_config.url.as_deref().is_some_and(|u| u.contains("googleapis.com")))
            })
        })
        .unwrap_or(false);
    let project = a.project.clone().or_else(|| project_from_context(&c.context)).unwrap_or_else(|| "PROJECT_ID".into());
    let since = a.since.map(|s| s.as_secs()).unwrap_or(86_400);
    let read = format!(
        "gcloud logging read 'resource.type=\"istio_control_plane\" AND (textPayload=~\"TLS handshake error.*bad certificate|cannot list resource|Authentication failed\" OR jsonPayload.message=~\"TLS handshake error.*bad certificate|cannot list resource|Authentication failed\")' --project={project} --freshness={since}s --format='value(textPayload)'"
    );
    let f = Finding::new(CheckId::LogsSources, &c.context, format!("{ns} (no istiod pods)"))
        .command(kubectl(g, &c.context).args(["get", "pods", "-n", ns, "-l", "app=istiod"]).render());
    if managed_cm || google_webhook {
        f.status(Status::Skip, "managed control plane: istiod runs in Google's project, its logs are in Cloud Logging, not in this cluster")
            .evidence(
                [
                    managed_cm.then(|| format!("ConfigMap {ns}/asm-options present")),
                    google_webhook.then(|| "a MutatingWebhookConfiguration calls a *.googleapis.com URL".to_owned()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; "),
            )
            .remediation(format!("Read the managed control plane's logs from Cloud Logging and scan them offline: {read} > istiod.log && kubectl asm-logs scan -f istiod.log"))
    } else {
        f.status(Status::Error, format!("no pods labelled app=istiod in namespace {ns}{}", a.revision.as_ref().map(|r| format!(" for revision {r}")).unwrap_or_default()))
            .remediation(format!("Pass --istio-namespace if istiod runs elsewhere (kubectl get pods -A -l app=istiod{}); for a managed control plane the logs are in Cloud Logging: {read}", c.context.is_empty().then(String::new).unwrap_or_else(|| format!(" --context={}", c.context))))
    }
}
