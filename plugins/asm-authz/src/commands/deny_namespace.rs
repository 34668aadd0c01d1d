//! `kubectl asm-authz deny-namespace NS`: the runbook's remedy when policies are not enforced. Prints the
//! deny-everything AuthorizationPolicy by default; `--apply` checks the namespace exists, runs a server-side
//! dry run, asks, then server-side applies (re-applying the same policy reports "unchanged").

use asm_core::checks::authz::deny_namespace::{
    self, Change, FIELD_MANAGER, conflicting_spec, policy, policy_name, yaml,
};
use asm_core::cli::{CliError, GlobalArgs, Outcome, PlannedCommand, confirm};
use asm_core::cluster::authz::{apply_policy, get_policy, namespace_exists};
use asm_core::cluster::{Cluster, ClusterError, connect_all, selected_contexts};
use asm_core::model::{CheckId, Finding, KubectlCommand, Report, Status};
use asm_core::render;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The namespace whose workloads should deny every request
    #[arg(value_name = "NAMESPACE")]
    pub namespace: String,
    /// Apply the policy (server-side dry run first, then a confirmation unless --yes)
    #[arg(long)]
    pub apply: bool,
    /// Answer yes to the confirmation, for automation
    #[arg(long, requires = "apply")]
    pub yes: bool,
    /// The mesh's root namespace: a policy there applies to the whole mesh
    #[arg(long, default_value = "istio-system")]
    pub root_namespace: String,
    /// Required to apply in the root namespace, which denies every request in the whole mesh
    #[arg(long, requires = "apply")]
    pub i_mean_mesh_wide: bool,
}

fn apply_command(g: &GlobalArgs, ctx: &str, ns: &str, dry_run: bool) -> String {
    let mut args = vec!["apply".to_owned(), "--server-side".to_owned(), format!("--field-manager={FIELD_MANAGER}")];
    if dry_run {
        args.push("--dry-run=server".into());
    }
    args.extend(["-f".into(), "-".into()]);
    let yaml = serde_yaml_text(ns);
    format!("{} <<EOF\n{yaml}EOF", KubectlCommand::new(g.cluster.kubeconfig.as_deref(), Some(ctx)).args(args).render())
}

fn serde_yaml_text(ns: &str) -> String {
    // The YAML without the explanatory comment, as it goes into a heredoc.
    yaml(ns, "").lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect()
}

pub async fn run(g: &GlobalArgs, a: &Args) -> Result<Outcome, CliError> {
    let ns = a.namespace.trim();
    let valid = !ns.is_empty()
        && ns.len() <= 63
        && ns.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if !valid {
        return Err(CliError::usage(format!(
            "{ns:?} is not a namespace name (lowercase letters, digits and '-', at most 63)"
        )));
    }
    let mesh_wide = ns == a.root_namespace;
    if g.output.print_commands {
        let mut planned = Vec::new();
        for ctx in selected_contexts(&g.cluster.selection())? {
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "server-side dry run of the deny-everything policy".into(),
                command: apply_command(g, &ctx, ns, true),
            });
            planned.push(PlannedCommand {
                context: ctx.clone(),
                purpose: "apply it".into(),
                command: apply_command(g, &ctx, ns, false),
            });
        }
        return Ok(Outcome::Commands(planned));
    }
    if !a.apply {
        return Ok(Outcome::Text(yaml(ns, &a.root_namespace)));
    }
    if mesh_wide && !a.i_mean_mesh_wide {
        return Err(CliError::usage(format!(
            "{ns} is the mesh root namespace: a deny-everything policy there denies every request in the whole mesh. \
             If that is really what you want, add --i-mean-mesh-wide"
        )));
    }
    let clusters = connect_all(&g.cluster.selection()).await?;
    // Dry run everywhere first; nothing is written until every context validated and the user said yes.
    let mut plans = Vec::new();
    let mut findings = Vec::new();
    for c in &clusters {
        match dry_run(c, g, ns).await {
            Ok(p) => plans.push(p),
            Err(e) => findings.push(
                Finding::new(CheckId::AuthzDenyNamespace, &c.context, format!("{ns}/{}", policy_name(ns)))
                    .status(Status::Error, e.to_string()),
            ),
        }
    }
    if !findings.is_empty() {
        return Ok(Outcome::Report(Report::new(findings)));
    }
    let to_change: Vec<&Plan> = plans.iter().filter(|p| p.change != Change::Unchanged).collect();
    for p in &plans {
        let note = match (&p.change, &p.replaces) {
            (Change::Unchanged, _) => "already present, unchanged".to_owned(),
            (Change::Created, _) => "server-side dry run: would be created".to_owned(),
            (Change::Configured, Some(spec)) => {
                format!("server-side dry run: would REPLACE the existing spec {spec}")
            }
            (Change::Configured, None) => "server-side dry run: would be configured".to_owned(),
        };
        render::print_note(&format!("[{}] {ns}/{}: {note}", p.cluster.context, policy_name(ns)));
    }
    if !to_change.is_empty() {
        let contexts: Vec<&str> = to_change.iter().map(|p| p.cluster.context.as_str()).collect();
        let mut prompt = format!(
            "Deny every request to workloads in namespace {ns} (AuthorizationPolicy {}) in context(s) {}?",
            policy_name(ns),
            contexts.join(", ")
        );
        if mesh_wide {
            prompt = format!("THIS DENIES EVERY REQUEST IN THE WHOLE MESH. {prompt}");
        }
        if !confirm(&prompt, a.yes)? {
            return Ok(Outcome::Report(Report::new(
                plans
                    .iter()
                    .map(|p| {
                        Finding::new(
                            CheckId::AuthzDenyNamespace,
                            &p.cluster.context,
                            format!("{ns}/{}", policy_name(ns)),
                        )
                        .status(Status::Skip, "not applied: the answer was no")
                    })
                    .collect(),
            )));
        }
    }
    for p in &plans {
        let mut commands = vec![apply_command(g, &p.cluster.context, ns, true)];
        let result = if p.change == Change::Unchanged {
            Ok(Change::Unchanged)
        } else {
            commands.push(apply_command(g, &p.cluster.context, ns, false));
            apply_policy(&p.cluster, &policy(ns), FIELD_MANAGER, false)
                .await
                .map(|after| deny_namespace::change(p.before.as_ref(), &after))
        };
        findings.push(match result {
            Ok(change) => deny_namespace::finding(&p.cluster.context, ns, change, false, commands),
            Err(e) => {
                Finding::new(CheckId::AuthzDenyNamespace, &p.cluster.context, format!("{ns}/{}", policy_name(ns)))
                    .status(Status::Error, e.to_string())
            }
        });
    }
    Ok(Outcome::Report(Report::new(findings)))
}

struct Plan {
    cluster: Cluster,
    before: Option<serde_json::Value>,
    change: Change,
    replaces: Option<serde_json::Value>,
}

async fn dry_run(c: &Cluster, _g: &GlobalArgs, ns: &str) -> Result<Plan, ClusterError> {
    if !namespace_exists(c, ns).await? {
        return Err(ClusterError::NotFound {
            context: c.context.clone(),
            kind: "namespace".into(),
            name: ns.into(),
            namespace: None,
        });
    }
    let before = get_policy(c, ns, &policy_name(ns)).await?;
    apply_policy(c, &policy(ns), FIELD_MANAGER, true).await?;
    let replaces = conflicting_spec(before.as_ref());
    let change = match (&before, &replaces) {
        (None, _) => Change::Created,
        (Some(_), None) => Change::Unchanged,
        (Some(_), Some(_)) => Change::Configured,
    };
    Ok(Plan { cluster: c.clone(), before, change, replaces })
}
