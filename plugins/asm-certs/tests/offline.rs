//! The plugin binary on saved real outputs: verdicts, JSON shape and exit codes, the same whatever `-o` is.

use std::process::Command;

fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/certs/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn captured_at() -> String {
    std::fs::read_to_string(fixture("captured-at")).unwrap().trim().to_owned()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-asm_certs")).args(args).env("NO_COLOR", "1").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let (code, out, err) = run(&all);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}")))
}

fn statuses(v: &serde_json::Value) -> Vec<(String, String)> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["status"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn inspect_istiod_chain_passes_with_its_root() {
    let at = captured_at();
    let (code, v) = json(&[
        "inspect",
        "-f",
        &fixture("sclient-istiod.txt"),
        "--root-cert",
        &fixture("root-istiod.pem"),
        "--trust-domain",
        "cluster.local",
        "--at",
        &at,
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        statuses(&v),
        [("certs.chain", "pass"), ("certs.root", "pass"), ("certs.expiry", "pass")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(v["checks"][1]["data"]["kind"], "istiod");
}

#[test]
fn inspect_failures_exit_1_in_every_format() {
    let at = captured_at();
    for f in ["sclient-broken-link.txt", "sclient-expired.txt", "sclient-notyet.txt"] {
        for o in ["table", "json", "yaml"] {
            let (code, _, _) = run(&["inspect", "-f", &fixture(f), "--at", &at, "-o", o]);
            assert_eq!(code, 1, "{f} -o {o}");
        }
    }
    let (_, v) = json(&[
        "inspect",
        "-f",
        &fixture("sclient-wrong-trust-domain.txt"),
        "--trust-domain",
        "cluster.local",
        "--at",
        &at,
    ]);
    assert_eq!(v["checks"][0]["status"], "fail");
}

#[test]
fn inspect_bad_input_is_a_usage_error() {
    let (code, _, err) = run(&["inspect", "-f", &fixture("README.md")]);
    assert_eq!(code, 2);
    assert!(err.contains("neither `openssl s_client` output nor a PEM bundle"), "{err}");
    let (code, _, err) = run(&["inspect", "-f", "/nonexistent/file"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /nonexistent/file"), "{err}");
    // Nothing came back from the server: the check could not run.
    let (code, _, _) = run(&["inspect", "-f", &fixture("sclient-plaintext.txt")]);
    assert_eq!(code, 2);
}

#[test]
fn xfcc_offline_verdicts() {
    let (code, v) = json(&[
        "xfcc",
        "-f",
        &fixture("headers-one-hop.json"),
        "--expect-source",
        "spiffe://cluster.local/ns/legacy/sa/sleep",
        "--expect-by",
        "spiffe://cluster.local/ns/sample/sa/httpbin",
        "--trust-domain",
        "cluster.local",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["checks"][0]["status"], "pass");
    let (code, v) = json(&["xfcc", "-f", &fixture("headers-no-xfcc.json")]);
    assert_eq!(code, 1);
    assert_eq!(v["checks"][0]["data"]["present"], false);
    let (code, _, _) = run(&["xfcc", "-f", &fixture("sclient-istiod.txt")]);
    assert_eq!(code, 2);
}

#[test]
fn print_commands_runs_nothing() {
    let dir = std::env::temp_dir().join(format!("asm-certs-kc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = dir.join("config");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\ncurrent-context: east\nclusters: [{name: c, cluster: {server: 'https://127.0.50.250:1'}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: east, context: {cluster: c, user: u}}, {name: west, context: {cluster: c, user: u}}]\n",
    )
    .unwrap();
    let kc = kc.to_string_lossy().into_owned();
    let (code, out, err) = run(&[
        "chain",
        "--from",
        "sleep.legacy",
        "--to",
        "httpbin.sample:8000",
        "--print-commands",
        "--kubeconfig",
        &kc,
        "--context",
        "east,west",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kubectl exec --kubeconfig="), "{out}");
    // A workload name is looked up in the printed command itself (exact pod, then app label).
    assert!(out.contains("--context=west pods -n legacy -l app=sleep -o name | head -n 1)\" -n legacy -c istio-proxy -- openssl s_client -alpn istio -showcerts -connect httpbin.sample:8000"), "{out}");
    let (code, out, _) = run(&["xfcc", "--from", "sleep.legacy", "--print-commands", "--kubeconfig", &kc]);
    assert_eq!(code, 0);
    assert!(
        out.contains("curl -sS --max-time 10 http://httpbin.sample:8000/headers | grep X-Forwarded-Client-Cert"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
