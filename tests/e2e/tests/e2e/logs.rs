//! `kubectl asm-logs scan` end to end: istiod's real pod log read through the API server (the scenario log
//! in several Istio versions' formats), the RBAC chain with a real SubjectAccessReview while istiod's
//! ClusterRoleBinding is really deleted, the caBundle follow-up, `--tail`/`--since`, `-f -` fed by a real
//! `kubectl logs`, `--print-commands` (run as printed, against a cluster it must never call), two contexts,
//! a viewer that may read logs but not RBAC objects, and a namespace with no istiod (managed or not).
//! Counts come from tests/mesh/istiod-logs/*.log as scripts/mesh/scenario.sh installs them.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use asm_e2e::{Run, exclusive, kubectl, scenario};
use serde_json::Value;

const ISTIOD_SA: &str = "system:serviceaccount:istio-system:istiod";

fn scan(extra: &[&str]) -> Run {
    let mut args = vec!["asm-logs", "scan"];
    args.extend_from_slice(extra);
    kubectl(&args)
}

/// The finding with `id` (and, when several, the one whose target starts with `target`) of one context.
fn check<'a>(report: &'a Value, ctx: &str, id: &str, target: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|c| {
                c["id"] == id && c["context"] == ctx && c["target"].as_str().unwrap_or("").starts_with(target)
            })
        })
        .unwrap_or_else(|| panic!("no {id} {target:?} finding for {ctx} in {report:#}"))
}

fn sig<'a>(report: &'a Value, id: &str) -> &'a Value {
    check(report, "mesh-east", id, "istiod")
}

/// `[{"key","count"}]` as pairs.
fn tally(v: &Value) -> Vec<(String, u64)> {
    v.as_array()
        .map(|a| {
            a.iter().map(|x| (x["key"].as_str().unwrap_or("").to_owned(), x["count"].as_u64().unwrap_or(0))).collect()
        })
        .unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|s| s.as_str().unwrap_or("").to_owned()).collect()).unwrap_or_default()
}

/// The istiod-logs scenario on a cluster whose RBAC is intact (the scenario alone does not restore it).
fn signatures_scenario() {
    scenario("baseline", "mesh-east");
    scenario("istiod-logs", "mesh-east");
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn baseline_scan_passes_and_names_the_istiod_pod() {
    let _g = exclusive();
    scenario("baseline", "mesh-east");
    let r = scan(&["--context", "mesh-east", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let j = r.json();
    let sources = check(&j, "mesh-east", "logs.sources", "istiod");
    assert_eq!(sources["status"], "pass", "{sources:#}");
    assert_eq!(sources["target"], "istiod (1 pod, revision default)");
    let src = &sources["data"]["sources"][0];
    assert!(src["pod"].as_str().unwrap().starts_with("istiod-"), "{src}");
    assert_eq!(src["revision"], "default");
    assert_eq!(src["container"], "discovery");
    // baseline.log has 24 lines, none a signature, none a near miss.
    assert_eq!(src["lines"], 24, "{src}");
    assert_eq!(src["candidates"], 0, "{src}");
    let cmd = sources["commands"][0].as_str().unwrap();
    assert!(
        cmd.starts_with("kubectl logs --context=mesh-east istiod-") && cmd.ends_with(" -n istio-system -c discovery"),
        "{cmd}"
    );
    for id in ["logs.tls-bad-certificate", "logs.rbac-forbidden", "logs.serverca-auth"] {
        let f = sig(&j, id);
        assert_eq!(f["status"], "pass", "{f:#}");
        assert_eq!(f["data"]["count"], 0, "{f:#}");
    }
    assert_eq!(j["checks"].as_array().unwrap().len(), 4, "{j:#}");
    let table = scan(&["--context", "mesh-east"]);
    insta::assert_snapshot!(table.snapshot());
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn istiod_logs_scenario_finds_every_signature_with_its_fields() {
    let _g = exclusive();
    signatures_scenario();
    let r = scan(&["--context", "mesh-east", "-o", "json"]);
    let table = scan(&["--context", "mesh-east"]);
    scenario("baseline", "mesh-east");
    // Every signature happened within 2 s of a 7 s log: transient everywhere, so warnings and exit 0.
    assert_eq!(r.code, 0, "{r:?}");
    let j = r.json();
    let src = &check(&j, "mesh-east", "logs.sources", "istiod")["data"]["sources"][0];
    assert_eq!(src["lines"], 21, "{src}");
    // The `: EOF` handshake error is context, never the signature.
    assert_eq!(tally(&src["other_handshake_errors"]), vec![("EOF".to_owned(), 1)], "{src}");

    let tls = sig(&j, "logs.tls-bad-certificate");
    assert_eq!(tls["status"], "warn", "{tls:#}");
    let d = &tls["data"];
    assert_eq!(d["count"], 3);
    assert_eq!(d["persistence"], "transient");
    assert_eq!(d["runbook_regex_would_match"], 3);
    assert_eq!(tally(&d["peers"]), vec![("10.0.0.1".to_owned(), 3)]);
    assert_eq!(tally(&d["kinds"]), vec![("bad certificate".to_owned(), 3)]);
    assert_eq!(tally(&d["levels"]), vec![("info".to_owned(), 2), ("error".to_owned(), 1)]);
    // The caBundle follow-up ran against the real injector config, and found it good.
    let ev = strings(&tls["evidence"]);
    assert!(
        ev.iter().any(|e| e
            == "caBundle check istio-sidecar-injector/rev.namespace.sidecar-injector.istio.io: pass — caBundle is present, valid and matches istiod's CA"),
        "{ev:#?}"
    );
    let rem = strings(&tls["remediation"]);
    assert!(
        rem.iter()
            .any(|s| s.ends_with("kubectl rollout restart --context=mesh-east deployment/istiod -n istio-system")),
        "{rem:#?}"
    );

    let rbac = sig(&j, "logs.rbac-forbidden");
    assert_eq!(rbac["status"], "warn", "{rbac:#}");
    let d = &rbac["data"];
    assert_eq!(d["count"], 5);
    // The raw klog line (E0501 …) carries no year.
    assert_eq!(d["untimed"], 1);
    assert_eq!(d["persistence"], "transient");
    // The runbook's `error.*cannot list resource` (case-sensitive, on the raw line) misses the klog `warn`
    // line and the raw klog `E0501` header, which holds no "error".
    assert_eq!(d["runbook_regex_would_match"], 3);
    assert_eq!(
        tally(&d["peers"]),
        vec![(ISTIOD_SA.to_owned(), 4), ("system:serviceaccount:istio-system:istiod-service-account".to_owned(), 1)]
    );
    let forbidden = d["forbidden"].as_array().unwrap();
    assert_eq!(forbidden.len(), 5, "{forbidden:#?}");
    let secrets = forbidden.iter().find(|f| f["resource"] == "secrets").expect("secrets");
    assert_eq!(secrets["namespace"], "istio-system");
    assert_eq!(secrets["api_group"], "");
    assert_eq!(secrets["watched_type"], "*v1.Secret");
    // One chain per distinct (request, user): the line naming the old account keeps its own verdict.
    let chains = d["rbac_chain"].as_array().unwrap();
    assert_eq!(chains.len(), 5, "{chains:#?}");
    for c in chains {
        assert_eq!(c["deployment_user"], ISTIOD_SA);
        assert_eq!(c["subject_access"]["allowed"], true, "{c:#}");
        if c["logged_user"] == ISTIOD_SA {
            assert_eq!(c["broken"], Value::Null, "{c:#}");
        } else {
            assert_eq!(
                c["broken"],
                "the log names system:serviceaccount:istio-system:istiod-service-account but Deployment istio-system/istiod runs as system:serviceaccount:istio-system:istiod"
            );
        }
    }
    assert!(
        strings(&rbac["commands"]).contains(
            &"kubectl auth can-i --context=mesh-east list secrets --as=system:serviceaccount:istio-system:istiod -n istio-system".to_owned()
        ),
        "{rbac:#}"
    );

    let ca = sig(&j, "logs.serverca-auth");
    assert_eq!(ca["status"], "warn", "{ca:#}");
    let d = &ca["data"];
    assert_eq!(d["count"], 4);
    assert_eq!(d["persistence"], "transient");
    // Only the `Authentication failed:` lines naming JWT (1.6-1.9 and the JSON one) match the runbook's regex.
    assert_eq!(d["runbook_regex_would_match"], 2);
    assert_eq!(tally(&d["peers"]), vec![("10.0.0.7".to_owned(), 2)]);
    let mut kinds: Vec<String> = tally(&d["kinds"]).into_iter().map(|(k, _)| k).collect();
    kinds.sort();
    // `[invalid bearer token, REASON]` is the REASON, not a signature failure; `issued by a different
    // provider` is the issuer.
    assert_eq!(kinds, vec!["token audience", "token expired", "token issuer", "token not authenticated"], "{d:#}");
    assert_eq!(d["authenticator_errors"]["ClientCertAuthenticator"], "no client certificate is presented");
    assert!(
        d["authenticator_errors"]["KubeJWTAuthenticator"]
            .as_str()
            .unwrap()
            .contains("oidc: id token issued by a different provider"),
        "{d:#}"
    );
    assert_eq!(tally(&d["clusters"]), vec![("Kubernetes".to_owned(), 4)]);

    assert_eq!(table.code, 0, "{table:?}");
    insta::assert_snapshot!(table.snapshot());
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn rbac_missing_fails_with_the_sar_denial_and_names_the_binding() {
    let _g = exclusive();
    scenario("baseline", "mesh-east");
    scenario("istiod-rbac-missing", "mesh-east");
    let denied = scan(&["--context", "mesh-east", "-o", "json"]);
    let table = scan(&["--context", "mesh-east"]);
    // Run the remediation's own command, as a user would, then ask again: the chain is complete.
    let d = denied.json();
    let rbac = sig(&d, "logs.rbac-forbidden").clone();
    let step = strings(&rbac["remediation"]).into_iter().find(|s| s.contains("or recreate it: ")).unwrap_or_default();
    let create = step.split("or recreate it: ").nth(1).and_then(|s| s.split(';').next()).unwrap_or_default().to_owned();
    let words: Vec<&str> = create.split_whitespace().skip(1).collect();
    let created = kubectl(&words);
    let allowed = scan(&["--context", "mesh-east", "-o", "json"]);
    scenario("baseline", "mesh-east");

    assert_eq!(denied.code, 1, "{denied:?}");
    assert_eq!(rbac["status"], "fail", "{rbac:#}");
    let data = &rbac["data"];
    assert_eq!(data["count"], 5);
    assert_eq!(data["persistence"], "persistent");
    assert_eq!(
        tally(&data["kinds"]),
        vec![
            ("list customresourcedefinitions".to_owned(), 3),
            ("list mutatingwebhookconfigurations".to_owned(), 1),
            ("list peerauthentications".to_owned(), 1)
        ]
    );
    let chains = data["rbac_chain"].as_array().unwrap();
    assert_eq!(chains.len(), 3, "{chains:#?}");
    for c in chains {
        assert_eq!(c["deployment_user"], ISTIOD_SA);
        assert_eq!(c["granting_bindings"], serde_json::json!([]));
        assert_eq!(c["missing"], "ClusterRoleBinding istiod-clusterrole-istio-system");
        // The real API server's answer: RBAC has no opinion, so no reason is given.
        assert_eq!(c["subject_access"]["allowed"], false, "{c:#}");
        assert_eq!(c["subject_access"]["error"], Value::Null, "{c:#}");
    }
    assert_eq!(
        create,
        "kubectl create --context=mesh-east clusterrolebinding istiod-clusterrole-istio-system --clusterrole=istiod-clusterrole-istio-system --serviceaccount=istio-system:istiod",
        "{step}"
    );
    for want in [
        "ClusterRoleBinding istiod-clusterrole-istio-system is missing: nothing binds ClusterRole istiod-clusterrole-istio-system to system:serviceaccount:istio-system:istiod",
        "kubectl auth can-i --context=mesh-east list customresourcedefinitions.apiextensions.k8s.io --as=system:serviceaccount:istio-system:istiod → SubjectAccessReview: allowed=false (no authorizer allows it; the API server gave no reason)",
        "then restart istiod: kubectl rollout restart --context=mesh-east deployment/istiod -n istio-system",
    ] {
        assert!(step.contains(want), "{want}\nnot in\n{step}");
    }
    assert_eq!(table.code, 1);
    insta::assert_snapshot!(table.snapshot());

    assert_eq!(created.code, 0, "{created:?}");
    // The log still shows the errors (they happened), but the chain is complete and the API server says yes.
    assert_eq!(allowed.code, 1, "{allowed:?}");
    let a = allowed.json();
    let rbac = sig(&a, "logs.rbac-forbidden");
    for c in rbac["data"]["rbac_chain"].as_array().unwrap() {
        assert_eq!(c["broken"], Value::Null, "{c:#}");
        assert_eq!(c["subject_access"]["allowed"], true, "{c:#}");
        assert_eq!(
            c["subject_access"]["reason"],
            "RBAC: allowed by ClusterRoleBinding \"istiod-clusterrole-istio-system\" of ClusterRole \"istiod-clusterrole-istio-system\" to ServiceAccount \"istiod/istio-system\""
        );
    }
    assert!(
        strings(&rbac["remediation"]).iter().any(|s| s.contains(
            "the RBAC chain is complete now (ask the API server: kubectl auth can-i --context=mesh-east list customresourcedefinitions.apiextensions.k8s.io --as=system:serviceaccount:istio-system:istiod → SubjectAccessReview: allowed=true (RBAC: allowed by ClusterRoleBinding"
        )),
        "{rbac:#}"
    );
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn tail_and_since_bound_what_is_read() {
    let _g = exclusive();
    signatures_scenario();
    let started = std::time::Instant::now();
    let tail = scan(&["--context", "mesh-east", "--tail", "5", "-o", "json"]);
    let hour = scan(&["--context", "mesh-east", "--since", "1h", "-o", "json"]);
    // The scenario log ends when it is installed and nothing is appended: wait it out, then a short
    // --since window holds nothing.
    std::thread::sleep(Duration::from_secs(8).saturating_sub(started.elapsed()));
    let recent = scan(&["--context", "mesh-east", "--since", "3s", "-o", "json"]);
    scenario("baseline", "mesh-east");

    // The last 5 lines of signatures.log: three auth failures (1.10 "for ADDR", 1.20+ security, JSON)
    // and two ordinary ads lines.
    assert_eq!(tail.code, 0, "{tail:?}");
    let t = tail.json();
    let sources = check(&t, "mesh-east", "logs.sources", "istiod");
    assert_eq!(sources["data"]["lines"], 5);
    assert!(sources["commands"][0].as_str().unwrap().ends_with(" -c discovery --tail=5"), "{sources:#}");
    assert_eq!(sig(&t, "logs.tls-bad-certificate")["data"]["count"], 0);
    assert_eq!(sig(&t, "logs.rbac-forbidden")["data"]["count"], 0);
    assert_eq!(sig(&t, "logs.serverca-auth")["data"]["count"], 3);

    let h = hour.json();
    assert_eq!(check(&h, "mesh-east", "logs.sources", "istiod")["data"]["lines"], 21);
    assert_eq!(sig(&h, "logs.serverca-auth")["data"]["count"], 4);

    assert_eq!(recent.code, 0, "{recent:?}");
    let r = recent.json();
    let sources = check(&r, "mesh-east", "logs.sources", "istiod");
    assert_eq!(sources["data"]["lines"], 0, "{sources:#}");
    assert!(sources["commands"][0].as_str().unwrap().ends_with(" -c discovery --since=3s"), "{sources:#}");
    for id in ["logs.tls-bad-certificate", "logs.rbac-forbidden", "logs.serverca-auth"] {
        assert_eq!(sig(&r, id)["status"], "pass", "{id}");
    }
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn stdin_from_a_real_kubectl_logs_gives_the_live_counts() {
    let _g = exclusive();
    signatures_scenario();
    let live = scan(&["--context", "mesh-east", "--no-follow-up", "-o", "json"]);
    let logs = kubectl(&["logs", "--context=mesh-east", "-n", "istio-system", "deploy/istiod", "-c", "discovery"]);
    scenario("baseline", "mesh-east");
    assert_eq!(logs.code, 0, "{logs:?}");
    let mut child = Command::new("kubectl")
        .args(["asm-logs", "scan", "-f", "-", "-o", "json"])
        .env("PATH", asm_e2e::path())
        .env("KUBECONFIG", asm_e2e::kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    child.stdin.take().expect("stdin").write_all(logs.stdout.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("scan ends");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let offline: Value = serde_json::from_slice(&out.stdout).expect("json");
    let live = live.json();
    let find = |r: &Value, id: &str| -> Value {
        r["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == id).cloned())
            .unwrap_or_else(|| panic!("no {id}"))
    };
    assert_eq!(find(&offline, "logs.sources")["target"], "-");
    assert_eq!(find(&offline, "logs.sources")["data"]["lines"], find(&live, "logs.sources")["data"]["lines"]);
    for id in ["logs.tls-bad-certificate", "logs.rbac-forbidden", "logs.serverca-auth"] {
        let (o, l) = (find(&offline, id), find(&live, id));
        for key in [
            "count",
            "untimed",
            "persistence",
            "peers",
            "kinds",
            "levels",
            "runbook_regex_would_match",
            "first_seen",
            "last_seen",
        ] {
            assert_eq!(o["data"][key], l["data"][key], "{id} {key}");
        }
        assert_eq!(o["status"], l["status"], "{id}");
    }
    assert_eq!(find(&offline, "logs.tls-bad-certificate")["data"]["count"], 3);
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn print_commands_runs_nothing_and_the_printed_commands_run() {
    let _g = exclusive();
    // A kubeconfig whose mesh-east points at a port where nothing listens: any API call would fail.
    let real = std::fs::read_to_string(asm_e2e::kubeconfig()).expect("kubeconfig");
    assert!(real.contains("https://127.0.0.1:16443"));
    let dir = std::env::temp_dir().join(format!("asm-e2e-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let dead = dir.join("kubeconfig");
    std::fs::write(&dead, real.replace("https://127.0.0.1:16443", "https://127.0.0.1:9")).expect("write kubeconfig");
    let out = Command::new("kubectl")
        .args(["asm-logs", "scan", "--context", "mesh-east", "--tail", "50", "--print-commands"])
        .env("PATH", asm_e2e::path())
        .env("KUBECONFIG", &dead)
        .env("NO_COLOR", "1")
        .output()
        .expect("kubectl runs");
    let printed = Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    };
    assert_eq!(printed.code, 0, "{printed:?}");
    insta::assert_snapshot!(printed.snapshot());
    let logs_cmd = printed
        .stdout
        .lines()
        .map(str::trim)
        .find_map(|l| l.find("kubectl logs").map(|i| l[i..].to_owned()))
        .expect("a kubectl logs line");
    assert!(
        logs_cmd.starts_with(
            "kubectl logs --context=mesh-east -n istio-system -l app=istiod -c discovery --tail=50 | grep -E "
        ),
        "{logs_cmd}"
    );

    // Run the printed pipeline against the real cluster: grep finds exactly the lines the runbook's three
    // regular expressions find, which the scan reports as runbook_regex_would_match (3 + 3 + 2).
    signatures_scenario();
    let live = scan(&["--context", "mesh-east", "--no-follow-up", "-o", "json"]).json();
    let ran = Command::new("sh")
        .args(["-c", &logs_cmd])
        .env("PATH", asm_e2e::path())
        .env("KUBECONFIG", asm_e2e::kubeconfig())
        .output()
        .expect("sh runs");
    scenario("baseline", "mesh-east");
    assert!(ran.status.success(), "{ran:?}");
    let claimed: u64 = ["logs.tls-bad-certificate", "logs.rbac-forbidden", "logs.serverca-auth"]
        .iter()
        .map(|id| sig(&live, id)["data"]["runbook_regex_would_match"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(claimed, 8);
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).lines().count() as u64,
        claimed,
        "{}",
        String::from_utf8_lossy(&ran.stdout)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn two_contexts_are_scanned_and_each_finding_names_its_own() {
    let _g = exclusive();
    signatures_scenario();
    scenario("baseline", "mesh-west");
    let r = scan(&["--context", "mesh-east,mesh-west", "-o", "json"]);
    scenario("baseline", "mesh-east");
    assert_eq!(r.code, 0, "{r:?}");
    let j = r.json();
    assert_eq!(j["checks"].as_array().unwrap().len(), 8, "{j:#}");
    for ctx in ["mesh-east", "mesh-west"] {
        let s = check(&j, ctx, "logs.sources", "istiod");
        assert_eq!(s["status"], "pass");
        assert!(
            s["commands"][0].as_str().unwrap().starts_with(&format!("kubectl logs --context={ctx} istiod-")),
            "{s:#}"
        );
    }
    assert_eq!(check(&j, "mesh-east", "logs.tls-bad-certificate", "istiod")["data"]["count"], 3);
    assert_eq!(check(&j, "mesh-west", "logs.tls-bad-certificate", "istiod")["data"]["count"], 0);
    assert_eq!(check(&j, "mesh-west", "logs.sources", "istiod")["data"]["lines"], 24);
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn a_viewer_gets_error_findings_naming_what_to_grant() {
    let _g = exclusive();
    // The viewer may read pods, logs and Deployments: a clean log needs no follow-up, so it passes.
    scenario("baseline", "mesh-east");
    let clean = scan(&["--context", "mesh-east-viewer", "-o", "json"]);
    signatures_scenario();
    let r = scan(&["--context", "mesh-east-viewer", "-o", "json"]);
    let table = scan(&["--context", "mesh-east-viewer"]);
    let skipped = scan(&["--context", "mesh-east-viewer", "--no-follow-up", "-o", "json"]);
    scenario("baseline", "mesh-east");

    assert_eq!(clean.code, 0, "{clean:?}");
    // The follow-ups the viewer may not run are errors (exit 2), but the log itself was read and judged.
    assert_eq!(r.code, 2, "{r:?}");
    let j = r.json();
    assert_eq!(check(&j, "mesh-east-viewer", "logs.sources", "istiod")["status"], "pass");
    assert_eq!(check(&j, "mesh-east-viewer", "logs.rbac-forbidden", "istiod")["data"]["count"], 5);
    let ca = check(&j, "mesh-east-viewer", "logs.tls-bad-certificate", "follow-up: injector caBundle check");
    assert_eq!(ca["status"], "error");
    assert!(ca["summary"].as_str().unwrap().contains("forbidden: cannot list mutatingwebhookconfigurations"), "{ca:#}");
    assert!(
        strings(&ca["remediation"])[0].starts_with(
            "Grant the user of context mesh-east-viewer list mutatingwebhookconfigurations.admissionregistration.k8s.io"
        ),
        "{ca:#}"
    );
    let chain = check(&j, "mesh-east-viewer", "logs.rbac-forbidden", "follow-up: RBAC chain");
    assert_eq!(chain["status"], "error");
    assert!(
        strings(&chain["remediation"])[0].starts_with(
            "Grant the user of context mesh-east-viewer list clusterroles.rbac.authorization.k8s.io, list clusterrolebindings.rbac.authorization.k8s.io"
        ),
        "{chain:#}"
    );
    // Without the chain the finding keeps the runbook's steps to run by hand.
    let rbac = check(&j, "mesh-east-viewer", "logs.rbac-forbidden", "istiod");
    assert!(
        strings(&rbac["remediation"]).contains(
            &"Ask the API server (runbook step 2): kubectl auth can-i --context=mesh-east-viewer list customresourcedefinitions.apiextensions.k8s.io --as=system:serviceaccount:istio-system:istiod".to_owned()
        ),
        "{rbac:#}"
    );
    assert_eq!(table.code, 2);
    insta::assert_snapshot!(table.snapshot());

    assert_eq!(skipped.code, 0, "{skipped:?}");
    assert!(!skipped.statuses().iter().any(|(s, _)| s == "error"), "{:?}", skipped.statuses());
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn no_istiod_is_a_managed_control_plane_only_when_the_mesh_says_so() {
    let _g = exclusive();
    let ns = "asm-logs-e2e-managed";
    let _ = kubectl(&["delete", "namespace", ns, "--context=mesh-east", "--ignore-not-found", "--wait=true"]);
    let made = kubectl(&["create", "namespace", ns, "--context=mesh-east"]);
    let cm = kubectl(&[
        "create",
        "configmap",
        "asm-options",
        "-n",
        ns,
        "--from-literal=ASM_OPTS=CNI=on",
        "--context=mesh-east",
    ]);
    let managed = scan(&["--context", "mesh-east", "--istio-namespace", ns, "-o", "json"]);
    let none = scan(&["--context", "mesh-east", "--istio-namespace", "sample", "-o", "json"]);
    let _ = kubectl(&["delete", "namespace", ns, "--context=mesh-east", "--wait=false"]);
    assert_eq!(made.code, 0, "{made:?}");
    assert_eq!(cm.code, 0, "{cm:?}");

    assert_eq!(managed.code, 0, "{managed:?}");
    let j = managed.json();
    let f = &j["checks"][0];
    assert_eq!(j["checks"].as_array().unwrap().len(), 1);
    assert_eq!(f["id"], "logs.sources");
    assert_eq!(f["status"], "skip", "{f:#}");
    assert_eq!(f["target"], format!("{ns} (no istiod pods)"));
    assert_eq!(strings(&f["evidence"]), vec![format!("ConfigMap {ns}/asm-options present")]);
    let rem = strings(&f["remediation"]);
    assert!(
        rem[0].contains("gcloud logging read 'resource.type=\"istio_control_plane\"")
            && rem[0].ends_with("> istiod.log && kubectl asm-logs scan -f istiod.log"),
        "{rem:#?}"
    );

    // Near miss: a namespace without istiod and without any sign of a managed mesh cannot be scanned.
    assert_eq!(none.code, 2, "{none:?}");
    let f = &none.json()["checks"][0];
    assert_eq!(f["status"], "error");
    assert_eq!(f["summary"], "no pods labelled app=istiod in namespace sample");
}
