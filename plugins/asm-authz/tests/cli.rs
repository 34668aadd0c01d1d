//! The binary end to end on the offline paths: real fixtures in, the documented JSON and exit codes out.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/authz/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-asm_authz"))
        .args(args)
        .env("NO_COLOR", "1")
        // No cluster is needed offline; make sure none is picked up by accident.
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the plugin");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn explain_text_log_offline() {
    let out = run(&["explain", "-f", &fixture("access-text-deny.log"), "-o", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json(&out);
    assert_eq!(r["version"], 1);
    let checks = r["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["id"] == "authz.denials"));
    let targets: Vec<(&str, u64)> =
        checks[1..].iter().map(|c| (c["target"].as_str().unwrap(), c["data"]["count"].as_u64().unwrap())).collect();
    assert_eq!(
        targets,
        vec![
            ("authz-ns/deny-method-delete rule[0]", 3),
            ("authz-ns/deny-method-delete rule[1]", 2),
            ("authz-ns/deny-tcp-9000 rule[0]", 1),
            ("istio-system/deny-blocked-ip rule[0]", 1),
            ("application 403", 1),
        ]
    );
    assert_eq!(checks[1]["data"]["resolution"]["state"], "not-checked");
}

#[test]
fn explain_cloud_export_from_stdin() {
    let input = std::fs::read_to_string(fixture("cloud-logging-export.jsonl")).unwrap();
    let out = run(&["explain", "-f", "-", "-o", "yaml"], Some(&input));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("target: ALLOW policies, none matched"), "{text}");
    assert!(text.contains("policy_ref: istio-system/deny-blocked-ip rule[0]"));
}

#[test]
fn explain_with_no_access_log_is_exit_2() {
    let out = run(&["explain", "-f", "-"], Some("hello\n[2026-01-01 00:00:00.000][1][info] x\n"));
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["explain", "-f", "/nonexistent/access.log"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/access.log"));
}

#[test]
fn deny_namespace_prints_and_guards() {
    let out = run(&["deny-namespace", "authz-ns"], None);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("name: deny-authz-ns\n  namespace: authz-ns\nspec: {}"), "{text}");
    let out = run(&["deny-namespace", "istio-system", "--apply", "--yes"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--i-mean-mesh-wide"));
    let out = run(&["deny-namespace", "Not_A_Namespace"], None);
    assert_eq!(out.status.code(), Some(2));
}
