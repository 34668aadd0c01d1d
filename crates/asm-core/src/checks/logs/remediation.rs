//! The runbook's next steps for each signature, with the values a scan found filled in: the context, the
//! istiod Deployments, the project, the refused request, the token problem. Where a value is unknown the
//! step shows the command that fetches it instead of a placeholder the user must guess.

use crate::model::{Finding, KubectlCommand, Status, shell_quote};
use crate::parse::istiod_log::{SignatureKind, SignatureStats};

use super::rbac::RbacChain;

/// What is known about the mesh beyond the logs (all optional: offline scans know nothing).
#[derive(Debug, Clone, Default)]
pub struct MeshFacts {
    pub kubeconfig: Option<String>,
    pub istio_namespace: String,
    /// istiod Deployments (`istiod`, `istiod-asm-1234-5`), one per revision.
    pub deployments: Vec<String>,
    pub project_id: Option<String>,
    pub project_number: Option<String>,
    /// `tls.webhook-ca-bundle` findings from the shared caBundle check, when it ran.
    pub webhook: Vec<Finding>,
    /// The RBAC chain per refused request, when it ran.
    pub rbac: Vec<RbacChain>,
    /// istiod's JWT_POLICY env (`third-party-jwt` / `first-party-jwt`), when read.
    pub jwt_policy: Option<String>,
    /// The projected token audience of istio-proxy (`istio-ca` by default), when read.
    pub token_audience: Option<String>,
    /// Follow-up steps that could not run (forbidden to this context's user, API errors): `error` findings,
    /// each naming what to grant, reported after the signatures.
    pub follow_up_errors: Vec<Finding>,
}

/// The API server's answer, as `kubectl auth can-i` would summarise it plus the fields of the review.
pub fn sar_text(s: &super::rbac::SubjectAccess) -> String {
    match &s.error {
        Some(e) => format!("SubjectAccessReview could not run: {e}"),
        None if s.allowed => format!(
            "SubjectAccessReview: allowed=true{}",
            if s.reason.is_empty() { String::new() } else { format!(" ({})", s.reason) }
        ),
        None => format!(
            "SubjectAccessReview: allowed=false{}{}",
            if s.denied { ", denied=true" } else { "" },
            if s.reason.is_empty() {
                " (no authorizer allows it; the API server gave no reason)".to_owned()
            } else {
                format!(" ({})", s.reason)
            }
        ),
    }
}

fn kubectl(facts: &MeshFacts, context: &str) -> KubectlCommand {
    KubectlCommand::new(facts.kubeconfig.as_deref(), (!context.is_empty()).then_some(context))
}

fn ns(facts: &MeshFacts) -> &str {
    if facts.istio_namespace.is_empty() { "istio-system" } else { &facts.istio_namespace }
}

/// (remediation steps, commands run, extra evidence).
pub fn remediation_for(
    kind: SignatureKind,
    context: &str,
    s: &SignatureStats,
    facts: &MeshFacts,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    match kind {
        SignatureKind::TlsBadCertificate => tls(context, s, facts),
        SignatureKind::RbacForbidden => rbac(context, s, facts),
        SignatureKind::ServercaAuth => serverca(context, s, facts),
    }
}

fn restart_commands(context: &str, facts: &MeshFacts) -> Vec<String> {
    let deployments = if facts.deployments.is_empty() { vec!["istiod".to_owned()] } else { facts.deployments.clone() };
    deployments
        .iter()
        .map(|d| {
            kubectl(facts, context).args(["rollout", "restart", &format!("deployment/{d}"), "-n", ns(facts)]).render()
        })
        .collect()
}

fn tls(context: &str, s: &SignatureStats, facts: &MeshFacts) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut steps = Vec::new();
    let mut evidence = Vec::new();
    let peers: Vec<String> = s.peers.top(5).into_iter().map(|(ip, n)| format!("{ip} ({n}×)")).collect();
    if !peers.is_empty() {
        evidence.push(format!("peers that rejected istiod's certificate: {}", peers.join(", ")));
    }
    let bad: Vec<&Finding> =
        facts.webhook.iter().filter(|f| matches!(f.status, Status::Fail | Status::Error)).collect();
    let bad_word =
        if bad.iter().any(|f| f.status == Status::Error) { "a bad or unreadable caBundle" } else { "a bad caBundle" };
    if facts.webhook.is_empty() {
        let ctx = if context.is_empty() { String::new() } else { format!(" --context={}", shell_quote(context)) };
        steps.push(format!(
            "Check the sidecar injector's caBundle (runbook steps 1-2): kubectl asm-tls webhook{ctx}, or by hand: {}",
            kubectl(facts, context).args([
                "get",
                "mutatingwebhookconfiguration",
                "istio-sidecar-injector",
                "-o=jsonpath={.webhooks[0].clientConfig.caBundle}"
            ])
        ));
    } else {
        for f in &facts.webhook {
            evidence.push(format!("caBundle check {}: {} — {}", f.target, f.status, f.summary));
        }
        if bad.is_empty() {
            steps.push("Every injector webhook's caBundle is present and matches istiod's CA: the rejecting peers are likely clients with a stale trust bundle; find them by IP: kubectl get pods -A -o wide | grep <IP>".into());
        } else {
            steps.push(format!(
                "{} injector webhook(s) have {bad_word} (see the caBundle evidence above); restart istiod so it re-patches them",
                bad.len()
            ));
        }
    }
    for c in restart_commands(context, facts) {
        steps.push(format!("Restart istiod to make it rescan the webhook and reinstall the caBundle: {c}"));
    }
    if !peers.is_empty() {
        steps.push(format!(
            "Find the peers: {}",
            kubectl(facts, context).args(["get", "pods", "-A", "-o", "wide"]).render()
                + &format!(
                    " | grep -E '{}'",
                    s.peers.top(5).iter().map(|(ip, _)| ip.replace('.', "\\.")).collect::<Vec<_>>().join("|")
                )
        ));
    }
    (steps, Vec::new(), evidence)
}

fn rbac(context: &str, s: &SignatureStats, facts: &MeshFacts) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut steps = Vec::new();
    let mut evidence = Vec::new();
    let mut commands = Vec::new();
    for (fm, n) in s.forbidden.iter().take(5) {
        evidence.push(format!("{n}× {}", fm.describe()));
    }
    // Runbook step 1, in a form that runs: the runbook's text cuts the member at `service-${PROJECT_NUMBER}`.
    let project = facts.project_id.clone();
    let number = facts.project_number.clone();
    let (pid, pnum) = (
        project.clone().unwrap_or_else(|| "${PROJECT_ID}".into()),
        number.clone().unwrap_or_else(|| "${PROJECT_NUMBER}".into()),
    );
    let mut fetch = Vec::new();
    if project.is_none() {
        fetch.push("PROJECT_ID=$(gcloud config get-value project)".to_owned());
    }
    if number.is_none() {
        fetch.push(format!(
            "PROJECT_NUMBER=$(gcloud projects describe {} --format='value(projectNumber)')",
            if project.is_some() { shell_quote(&pid) } else { "\"${PROJECT_ID}\"".into() }
        ));
    }
    let q = |v: &str| {
        if v.starts_with("${") { format!("\"{v}\"") } else { shell_quote(v) }
    };
    let binding = format!(
        "gcloud projects add-iam-policy-binding {} --member \"serviceAccount:service-{}@gcp-sa-meshdataplane.iam.gserviceaccount.com\" --role roles/meshdataplane.serviceAgent",
        q(&pid),
        pnum
    );
    let check = format!(
        "gcloud projects get-iam-policy {} --flatten='bindings[].members' --filter='bindings.role:roles/meshdataplane.serviceAgent' --format='value(bindings.members)'",
        q(&pid)
    );
    let prefix = if fetch.is_empty() { String::new() } else { format!("{}; ", fetch.join("; ")) };
    steps.push(format!(
        "Managed data plane (ASM on GKE): check the IAM binding: {prefix}{check} — if service-{pnum}@gcp-sa-meshdataplane.iam.gserviceaccount.com is missing, add it: {binding}"
    ));
    if facts.rbac.is_empty() {
        for (fm, _) in s.forbidden.iter().take(3) {
            let mut args = vec![
                "auth".to_owned(),
                "can-i".into(),
                fm.verb.clone(),
                if fm.api_group.is_empty() { fm.resource.clone() } else { format!("{}.{}", fm.resource, fm.api_group) },
                format!("--as={}", fm.user),
            ];
            if let Some(n) = &fm.namespace {
                args.extend(["-n".into(), n.clone()]);
            }
            steps.push(format!("Ask the API server (runbook step 2): {}", kubectl(facts, context).args(args)));
        }
        steps.push(format!(
            "Check the RBAC chain (runbook steps 2-4): {} ; {}",
            kubectl(facts, context).args(["get", "clusterroles,clusterrolebindings", "-o", "wide"]).render()
                + " | grep istiod",
            kubectl(facts, context).args([
                "get",
                "deployment",
                "-n",
                ns(facts),
                "-l",
                "app=istiod",
                "-o",
                "jsonpath={.items[*].spec.template.spec.serviceAccountName}"
            ])
        ));
    } else {
        let restart = restart_commands(context, facts).join(" ; ");
        // Requests broken by the same missing object get one step, not one per refused resource.
        let mut grouped: Vec<(String, String, Vec<String>, String)> = Vec::new();
        for c in &facts.rbac {
            let mut a = vec![
                "auth".to_owned(),
                "can-i".into(),
                c.verb.clone(),
                if c.api_group.is_empty() { c.resource.clone() } else { format!("{}.{}", c.resource, c.api_group) },
                format!("--as={}", c.deployment_user),
            ];
            if let Some(n) = &c.namespace {
                a.extend(["-n".into(), n.clone()]);
            }
            let can_i = kubectl(facts, context).args(a).render();
            commands.push(can_i.clone());
            let sar = c.subject_access.as_ref().map(sar_text);
            evidence.push(format!(
                "{}: runs as {}; roles granting {} {}: [{}]; bindings to it: [{}]{}",
                c.deployment,
                c.deployment_user,
                c.verb,
                c.resource,
                super::rbac::short_list(&c.granting_roles),
                c.granting_bindings.join(", "),
                sar.as_ref().map(|s| format!("; {s}")).unwrap_or_default()
            ));
            let asked = format!("{can_i} → {}", sar.unwrap_or_else(|| "not asked".to_owned()));
            match (&c.broken, &c.missing) {
                (Some(b), Some(m)) => {
                    let key = format!("{}\u{0}{m}", c.deployment);
                    match grouped.iter_mut().find(|g| g.0 == key) {
                        Some(g) => g.2.push(asked),
                        None => grouped.push((key, b.clone(), vec![asked], m.clone())),
                    }
                }
                (Some(b), None) => steps.push(format!(
                    "{}: {b}. Ask the API server (runbook step 2): {asked}. Rerun the installation (istioctl install / asmcli / helm) with the same revision to recreate istiod's ClusterRoles and bindings, or bind a ClusterRole granting {} {} to {}; then restart istiod: {restart}",
                    c.deployment, c.verb, c.resource, c.deployment_user
                )),
                (None, _) => steps.push(format!(
                    "{}: the RBAC chain is complete now (ask the API server: {asked}): the errors were transient or the permissions were fixed since; restart istiod if they continue: {restart}",
                    c.deployment
                )),
            }
        }
        for (key, broken, asked, missing) in grouped {
            let deployment = key.split('\u{0}').next().unwrap_or_default();
            let sa = facts
                .rbac
                .iter()
                .find(|c| c.deployment == deployment)
                .map(|c| c.deployment_user.clone())
                .unwrap_or_default();
            let recreate =
                match (missing.strip_prefix("ClusterRoleBinding "), sa.strip_prefix("system:serviceaccount:")) {
                    (Some(name), Some(ns_sa)) => format!(
                        ", or recreate it: {}",
                        kubectl(facts, context).args([
                            "create",
                            "clusterrolebinding",
                            name,
                            &format!("--clusterrole={name}"),
                            &format!("--serviceaccount={ns_sa}"),
                        ])
                    ),
                    _ => String::new(),
                };
            steps.push(format!(
                "{deployment}: {broken}. Ask the API server (runbook step 2): {}. Rerun the installation (istioctl install / asmcli / helm) with the same revision to recreate istiod's ClusterRoles and bindings{recreate}; then restart istiod: {restart}",
                asked.join(" ; ")
            ));
        }
    }
    (steps, commands, evidence)
}

fn serverca(context: &str, s: &SignatureStats, facts: &MeshFacts) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut steps = Vec::new();
    let mut evidence = Vec::new();
    for (a, e) in &s.authenticator_errors {
        evidence.push(format!("{a}: {e}"));
    }
    let clients: Vec<String> = s.peers.top(5).into_iter().map(|(ip, n)| format!("{ip} ({n}×)")).collect();
    if !clients.is_empty() {
        evidence.push(format!("clients refused: {}", clients.join(", ")));
    }
    let kinds: Vec<String> = s.kinds.top(20).into_iter().map(|(k, _)| k).collect();
    let has = |k: &str| kinds.iter().any(|x| x == k);
    if has("token not authenticated") {
        steps.push("TokenReview rejected the workload's token: it is expired, or its audience/issuer is not what this API server accepts. Check the proxy's projected token (audience istio-ca, expirationSeconds) and that the pod's node clock is right".into());
    }
    if has("token signature not verifiable") {
        steps.push("The API server cannot verify the token's signature: the token comes from another cluster (multi-cluster without the right remote secret) or the service-account signing key rotated; restart the client pod to get a fresh token".into());
    }
    if has("token expired") {
        steps
            .push("The token has expired: restart the client pod; check the kubelet refreshes projected tokens".into());
    }
    if has("token audience") || has("token issuer") {
        steps.push("Audience/issuer mismatch: istiod accepts audiences from TOKEN_AUDIENCES (default istio-ca); check the proxy's istio-token volume audience and the trust domain".into());
    }
    if has("unknown cluster") {
        steps.push(format!(
            "The client claims a cluster istiod has no credentials for ({}): create the remote secret (istioctl create-remote-secret) for that cluster",
            s.clusters.top(5).into_iter().map(|(c, _)| c).collect::<Vec<_>>().join(", ")
        ));
    }
    if has("tokenreviews forbidden") {
        steps.push("istiod may not create TokenReviews: its ClusterRole binding (system:auth-delegator) is missing; rerun the installation".into());
    }
    if has("no token") {
        steps.push("The client sent no bearer token: with JWT_POLICY=first-party-jwt or an old proxy the token is not mounted; align the proxy and istiod's JWT policy".into());
    }
    let policy = facts.jwt_policy.as_deref().map(|p| format!(" (istiod runs with JWT_POLICY={p})")).unwrap_or_default();
    steps.push(format!(
        "Check the JWT policy{policy}: third-party-jwt needs the projected token with audience {}: {}",
        facts.token_audience.as_deref().unwrap_or("istio-ca"),
        kubectl(facts, context).args([
            "get", "deployment", "-n", ns(facts), "-l", "app=istiod",
            "-o", "jsonpath={range .items[*].spec.template.spec.containers[*].env[?(@.name==\"JWT_POLICY\")]}{.value}{\"\\n\"}{end}"
        ])
    ));
    if !clients.is_empty() {
        steps.push(format!(
            "Find the refused clients: {} | grep -E '{}'",
            kubectl(facts, context).args(["get", "pods", "-A", "-o", "wide"]),
            s.peers.top(5).iter().map(|(ip, _)| ip.replace('.', "\\.")).collect::<Vec<_>>().join("|")
        ));
    }
    (steps, Vec::new(), evidence)
}

/// A follow-up step that could not run, as an `error` finding: what was being checked, the API server's
/// refusal, and the permission this context's user lacks (`grant`: `verb resource` pairs, `resource.group`).
pub fn follow_up_error(
    check: crate::model::CheckId,
    context: &str,
    step: &str,
    error: &str,
    grant: &[(&str, &str)],
    by_hand: Option<String>,
    kubeconfig: Option<&str>,
) -> Finding {
    let facts = MeshFacts { kubeconfig: kubeconfig.map(str::to_owned), ..Default::default() };
    let who = if context.is_empty() {
        "the current context's user".to_owned()
    } else {
        format!("the user of context {context}")
    };
    let wanted: Vec<String> = grant.iter().map(|(v, r)| format!("{v} {r}")).collect();
    let checks: Vec<String> =
        grant.iter().map(|(v, r)| kubectl(&facts, context).args(["auth", "can-i", v, r]).render()).collect();
    let mut f = Finding::new(check, context, format!("follow-up: {step}"))
        .status(
            Status::Error,
            format!("the {step} could not run: {error}"),
        )
        .remediation(format!(
            "Grant {who} {} (a ClusterRole with these verbs, bound to it), or run the scan from a context that has them; --no-follow-up skips this step. Check with: {}",
            wanted.join(", "),
            checks.join(" ; ")
        ));
    if let Some(h) = by_hand {
        f = f.remediation(format!("Or do it by hand with an account that may: {h}"));
    }
    f
}
