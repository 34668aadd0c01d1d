//! `kubectl asm-tls` end to end: the runbook's plain-text probe against STRICT and PERMISSIVE sidecars, every
//! inconclusive ending, the injector caBundle faults, modes, several contexts, and kubectl's plugin mechanism.

use asm_e2e::{exclusive, kubectl, kubectl_spawn, scenario, wait_until};

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn kubectl_finds_the_plugin_without_warnings() {
    let _g = exclusive();
    let r = kubectl(&["plugin", "list"]);
    assert!(r.stdout.contains("kubectl-asm_tls"), "{}", r.stdout);
    let ours: Vec<_> = r.stderr.lines().filter(|l| l.contains("kubectl-asm")).collect();
    assert!(ours.is_empty(), "kubectl plugin list warned about our plugins: {ours:?}");
    let help = kubectl(&["asm-tls", "verify", "--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Usage: kubectl asm-tls verify"), "{}", help.stdout);
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn strict_service_refuses_plain_text() {
    let _g = exclusive();
    let r = kubectl(&[
        "asm-tls",
        "verify",
        "--context",
        "mesh-east",
        "--from",
        "sleep.legacy",
        "--to",
        "httpbin.sample:8000",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let check = &r.json()["checks"][0];
    assert_eq!(check["id"], "tls.plaintext");
    assert_eq!(check["status"], "pass");
    assert_eq!(check["context"], "mesh-east");
    assert_eq!(check["data"]["verdict"]["outcome"], "rejected");
    assert!(
        check["data"]["verdict"]["curl"]["code"] == 56 || check["data"]["verdict"]["curl"]["code"] == 52,
        "{check}"
    );
    assert_eq!(check["data"]["peerAuthentication"]["effective"]["mode"], "STRICT");
    // The table shows one line of evidence; --wide shows them all.
    let wide = kubectl(&[
        "asm-tls",
        "verify",
        "--context",
        "mesh-east",
        "--from",
        "sleep.legacy",
        "--to",
        "httpbin.sample:8000",
        "--wide",
    ]);
    assert!(
        wide.stdout.contains("evidence: source: pod legacy/sleep-")
            && wide.stdout.contains("evidence: PeerAuthentication for sample/httpbin-"),
        "{}",
        wide.stdout
    );
    let cmd = check["commands"][0].as_str().unwrap();
    assert!(
        cmd.starts_with("kubectl exec --context=mesh-east sleep-") && cmd.contains(" -n legacy -c sleep -- curl "),
        "{cmd}"
    );
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn permissive_service_answering_plain_text_fails_with_the_fix() {
    let _g = exclusive();
    let r = kubectl(&[
        "asm-tls",
        "verify",
        "--context",
        "mesh-east",
        "--from",
        "sleep.legacy",
        "--to",
        "httpbin.permissive:8000",
    ]);
    insta::assert_snapshot!(r.snapshot());
    assert_eq!(r.code, 1);
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn inconclusive_probes_exit_2_with_a_hint() {
    let _g = exclusive();
    for (to, from, words) in [
        ("nolistener.sample:8000", "sleep.legacy", "Failed to connect"),
        ("blackhole.sample:8000", "sleep.legacy", "timed out"),
        ("nosuch.sample:8000", "sleep.legacy", "Could not resolve host"),
        ("httpbin.sample:8000", "notools.legacy", "executable file not found"),
    ] {
        let r = kubectl(&[
            "asm-tls",
            "verify",
            "--context",
            "mesh-east",
            "--from",
            from,
            "--to",
            to,
            "--probe-timeout",
            "2s",
            "-o",
            "json",
        ]);
        assert_eq!(r.code, 2, "{to}: {r:?}");
        let (status, summary) = &r.statuses()[0];
        assert_eq!(status, "error", "{to}");
        assert!(summary.contains(words), "{to}: {summary}");
        assert!(!r.json()["checks"][0]["remediation"].as_array().unwrap().is_empty(), "{to}: no hint");
    }
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn exec_problems_are_named() {
    let _g = exclusive();
    let cases: [(&[&str], &str); 5] = [
        // Impersonation reaches the API server: a user with no grants may not even read the pod.
        (
            &["--context", "mesh-east", "--as", "jane", "--from", "sleep.legacy"],
            "forbidden: cannot get pods in namespace legacy",
        ),
        (
            &["--context", "mesh-east-viewer", "--from", "sleep.legacy"],
            "forbidden: cannot create pods/exec in namespace legacy",
        ),
        (&["--context", "mesh-east", "--from", "nosuchpod.legacy"], "pod \"nosuchpod\" not found in namespace legacy"),
        (
            &["--context", "mesh-east", "--from", "sleep.legacy", "-c", "nope"],
            "has no container \"nope\" (containers: sleep)",
        ),
        (&["--context", "nosuch", "--from", "sleep.legacy"], "context \"nosuch\" is not in the kubeconfig"),
    ];
    for (args, words) in cases {
        let mut all = vec!["asm-tls", "verify", "--to", "httpbin.sample:8000"];
        all.extend_from_slice(args);
        let r = kubectl(&all);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stdout.contains(words) || r.stderr.contains(words), "{args:?}: {r:?}");
    }
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn several_contexts_at_once_each_say_whose_result_it_is() {
    let _g = exclusive();
    let r = kubectl(&[
        "asm-tls",
        "verify",
        "--context",
        "mesh-east,mesh-west",
        "--from",
        "sleep.legacy",
        "--to",
        "httpbin.sample:8000",
        "-o",
        "yaml",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("context: mesh-east") && r.stdout.contains("context: mesh-west"), "{}", r.stdout);
    assert_eq!(r.stdout.matches("status: pass").count(), 2, "{}", r.stdout);
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn print_commands_runs_nothing() {
    let _g = exclusive();
    let r = kubectl(&[
        "asm-tls",
        "verify",
        "--context",
        "mesh-east",
        "--from",
        "sleep.legacy",
        "-c",
        "sleep",
        "--to",
        "httpbin.sample:8000",
        "--print-commands",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let exec_line = r.stdout.lines().find(|l| l.starts_with("kubectl exec ")).expect("an exec line").to_owned();
    assert!(
        exec_line.ends_with(
            "-n legacy -c sleep -- curl -sS -o /dev/null -w '%{http_code}' --max-time 5 http://httpbin.sample:8000/"
        ),
        "{exec_line}"
    );
    // What is printed runs as is, and gives the runbook's answer by hand.
    let by_hand = std::process::Command::new("bash")
        .args(["-c", &exec_line])
        .env("PATH", asm_e2e::path())
        .env("KUBECONFIG", asm_e2e::kubeconfig())
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&by_hand.stderr);
    assert!(stderr.contains("curl: (56)") || stderr.contains("curl: (52)"), "{exec_line}: {stderr}");
    // A context that does not answer is fine: nothing is contacted.
    let r = kubectl(&["asm-tls", "webhook", "--all-contexts", "--print-commands"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("kubectl get --context=mesh-west mutatingwebhookconfiguration istio-sidecar-injector"),
        "{}",
        r.stdout
    );
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn webhook_cabundle_faults_are_caught_and_baseline_passes() {
    let _g = exclusive();
    let r = kubectl(&["asm-tls", "webhook", "--context", "mesh-east", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.statuses().iter().all(|(s, _)| s == "pass"), "{:?}", r.statuses());
    let evidence = r.json()["checks"][0]["evidence"].to_string();
    assert!(
        evidence.contains("istiod's serving certificate from pod istio-system/istiod-"),
        "live serving cert not used: {evidence}"
    );
    for (name, words) in [
        ("webhook-empty-cabundle", "caBundle is empty"),
        ("webhook-wrong-cabundle", "does not contain the CA that signs istiod's serving certificate"),
        ("webhook-expired-cabundle", "expired"),
        ("webhook-garbage-cabundle", "no PEM certificate block"),
    ] {
        scenario(name, "mesh-east");
        let r = kubectl(&["asm-tls", "webhook", "--context", "mesh-east", "-o", "json"]);
        scenario("baseline", "mesh-east");
        assert_eq!(r.code, 1, "{name}: {r:?}");
        for (status, summary) in r.statuses() {
            assert_eq!(status, "fail", "{name}");
            assert!(summary.contains(words), "{name}: {summary}");
        }
        let remediation = r.json()["checks"][0]["remediation"][0].as_str().unwrap().to_owned();
        assert!(
            remediation.contains("kubectl rollout restart --context=mesh-east deployment/istiod -n istio-system"),
            "{remediation}"
        );
    }
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn webhook_fix_restarts_istiod_only_when_confirmed() {
    let _g = exclusive();
    scenario("webhook-empty-cabundle", "mesh-east");
    // No terminal and no --yes: refuse, change nothing.
    let refused = kubectl(&["asm-tls", "webhook", "--context", "mesh-east", "--fix"]);
    let before = kubectl(&[
        "get",
        "deployment",
        "istiod",
        "-n",
        "istio-system",
        "--context",
        "mesh-east",
        "-o",
        "jsonpath={.spec.template.metadata.annotations}",
    ]);
    let fixed = kubectl(&["asm-tls", "webhook", "--context", "mesh-east", "--fix", "--yes", "-o", "json"]);
    let after = kubectl(&[
        "get",
        "deployment",
        "istiod",
        "-n",
        "istio-system",
        "--context",
        "mesh-east",
        "-o",
        "jsonpath={.spec.template.metadata.annotations}",
    ]);
    scenario("baseline", "mesh-east");
    // The restart replaces istiod's pod; leave the mesh as the next test expects it.
    let healthy = wait_until(std::time::Duration::from_secs(60), || {
        kubectl(&["asm-tls", "webhook", "--context", "mesh-east"]).code == 0
    });
    assert!(healthy, "istiod did not come back after the restart");
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("pass --yes to confirm"), "{}", refused.stderr);
    assert!(!before.stdout.contains("restartedAt") || before.stdout != after.stdout);
    assert!(after.stdout.contains("kubectl.kubernetes.io/restartedAt"), "{after:?}");
    let restart = fixed.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "tls.istiod-restart")
        .cloned()
        .expect("a restart finding");
    assert_eq!(restart["status"], "pass", "{restart}");
    assert_eq!(fixed.code, 1, "the caBundle findings still fail until istiod re-patches it");
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn modes_per_workload() {
    let _g = exclusive();
    let r = kubectl(&["asm-tls", "mode", "--context", "mesh-east", "-n", "sample"]);
    insta::assert_snapshot!(r.snapshot());
    assert_eq!(r.code, 0);
    let r = kubectl(&[
        "asm-tls",
        "mode",
        "--context",
        "mesh-east",
        "httpbin.permissive",
        "--expect",
        "strict",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.statuses()[0], ("fail".to_owned(), "PERMISSIVE".to_owned()));
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn ctrl_c_stops_cleanly_with_130() {
    let _g = exclusive();
    // A probe that would hang for 30 s; kubectl execs the plugin in its place, so the signal reaches it.
    let child = kubectl_spawn(&[
        "asm-tls",
        "verify",
        "--context",
        "mesh-east",
        "--from",
        "sleep.legacy",
        "--to",
        "blackhole.sample:8000",
        "--probe-timeout",
        "30s",
    ]);
    // Wait until kubectl has exec'd the plugin (same pid, new program), then give the probe a moment to start:
    // on a loaded machine a fixed sleep could signal kubectl itself.
    let cmdline = format!("/proc/{}/cmdline", child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read(&cmdline).map(|c| String::from_utf8_lossy(&c).contains("kubectl-asm_tls")).unwrap_or(false) {
        assert!(std::time::Instant::now() < deadline, "kubectl never started the plugin");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    let started = std::time::Instant::now();
    let status =
        std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("plugin exits");
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?} to stop", started.elapsed());
}

#[test]
#[ignore = "needs the local mesh: scripts/test.sh brings it up and runs these"]
fn an_unreachable_cluster_does_not_hide_the_others() {
    let _g = exclusive();
    // A copy of the mesh's kubeconfig with one more context whose API server is not there.
    let dir = std::env::temp_dir().join(format!("asm-e2e-kubeconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = dir.join("config");
    std::fs::copy(asm_e2e::kubeconfig(), &kc).unwrap();
    let kcs = kc.to_str().unwrap();
    for args in [
        vec![
            "config",
            "--kubeconfig",
            kcs,
            "set-cluster",
            "gone",
            "--server=https://127.0.0.1:9",
            "--insecure-skip-tls-verify=true",
        ],
        vec!["config", "--kubeconfig", kcs, "set-context", "gone", "--cluster=gone", "--user=mesh-east-admin"],
    ] {
        assert_eq!(kubectl(&args).code, 0);
    }
    let r = kubectl(&[
        "asm-tls",
        "verify",
        "--kubeconfig",
        kcs,
        "--context",
        "mesh-east,gone",
        "--request-timeout",
        "5s",
        "--from",
        "sleep.legacy",
        "--to",
        "httpbin.sample:8000",
        "-o",
        "json",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.code, 2, "{r:?}");
    let checks = r.json()["checks"].as_array().unwrap().clone();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert_eq!((checks[0]["context"].as_str(), checks[0]["status"].as_str()), (Some("mesh-east"), Some("pass")));
    assert_eq!((checks[1]["context"].as_str(), checks[1]["status"].as_str()), (Some("gone"), Some("error")));
    let summary = checks[1]["summary"].as_str().unwrap();
    assert!(summary.contains("cannot reach the API server"), "{summary}");
    // The printed command carries the kubeconfig given, so it can be pasted as is.
    assert!(checks[0]["commands"][0].as_str().unwrap().contains(&format!("--kubeconfig={kcs}")));
}
