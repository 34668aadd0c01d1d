//! The end-to-end harness: every test drives the plugins exactly as a user does, `kubectl asm-… …` through
//! a real kubectl binary with the built plugins on PATH, against the local mesh's real API servers, kwok
//! kubelets and Envoy sidecars (scripts/mesh, docs/local-mesh.md).
//!
//! The tests are `#[ignore]`d so a plain `cargo test` on a machine without the mesh does not fail; CI and the
//! README run them with `scripts/test.sh`, which brings the mesh up and passes `--include-ignored`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What one `kubectl …` invocation produced.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    /// The report of a `-o json` run.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    /// `(status, summary)` of every check in a `-o json` report.
    pub fn statuses(&self) -> Vec<(String, String)> {
        self.json()["checks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (c["status"].as_str().unwrap_or("").to_owned(), c["summary"].as_str().unwrap_or("").to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// stdout and the exit code together, with volatile values (pod hashes, durations, fingerprints, dates)
    /// filtered, for an insta snapshot.
    pub fn snapshot(&self) -> String {
        let mut s = format!("exit: {}\n{}", self.code, self.stdout);
        for (re, to) in volatile() {
            s = re.replace_all(&s, *to).into_owned();
        }
        s
    }
}

fn volatile() -> &'static [(regex::Regex, &'static str)] {
    static V: OnceLock<Vec<(regex::Regex, &'static str)>> = OnceLock::new();
    V.get_or_init(|| {
        [
            (r"-[a-z0-9]{8,10}-[a-z0-9]{5}\b", "-[pod]"),
            (r"after \d+ ms", "after [n] ms"),
            (r"after \d+ milliseconds", "after [n] milliseconds"),
            (r"sha256 [0-9a-f]{16}…", "sha256 [fp]…"),
            (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[time]"),
            (r"\d+d\d+h( ago)?", "[age]"),
            // certificate lifetimes left (`expires in 23h43m`) and bare fingerprint prefixes (`7167191b6e9cdb91…`):
            // the mesh's PKI is regenerated when its state is purged
            (r"\b\d+h\d+m\b", "[dur]"),
            (r"\b[0-9a-f]{16}…", "[fp]…"),
        ]
        .iter()
        .map(|(p, to)| (regex::Regex::new(p).expect("valid regex"), *to))
        .collect()
    })
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the mesh keeps its state (kubeconfig, logs), as scripts/mesh/lib/common.sh decides.
pub fn mesh_dir() -> PathBuf {
    std::env::var_os("ASM_MESH_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/kubectl-asm-mesh"))
}

fn cache_bin() -> PathBuf {
    let cache = std::env::var_os("ASM_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/kubectl-asm/v1"));
    cache.join("bin")
}

/// A directory holding only the plugin executables, as an install leaves them. Cargo's target dir also holds
/// `kubectl-asm_*.d` dependency files, which `kubectl plugin list` rightly warns about, so it cannot be put
/// on PATH itself. `ASM_PLUGIN_DIR` points at an installed set instead (scripts/test.sh sets it).
fn plugin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("ASM_PLUGIN_DIR") {
            return PathBuf::from(d);
        }
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/e2e-HASH -> target/<profile>
        let target = exe.parent().and_then(Path::parent).map(Path::to_path_buf).expect("target dir");
        let dir = target.join("e2e-plugins");
        let _ = std::fs::create_dir_all(&dir);
        for entry in std::fs::read_dir(&target).expect("target dir readable").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("kubectl-asm_") && !name.contains('.') {
                let link = dir.join(&name);
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(entry.path(), &link).expect("symlink plugin");
            }
        }
        dir
    })
    .clone()
}

/// PATH with the plugins first, then the mesh's binaries (pip kubectl, not any system kubectl).
pub fn path() -> String {
    format!("{}:{}:{}", plugin_dir().display(), cache_bin().display(), std::env::var("PATH").unwrap_or_default())
}

pub fn kubeconfig() -> PathBuf {
    let k = mesh_dir().join("kubeconfig");
    assert!(k.exists(), "the local mesh is not up ({} missing): run scripts/mesh/up.sh first", k.display());
    k
}

/// Run the real kubectl with `args`; the plugins are found through kubectl's own plugin mechanism.
pub fn kubectl(args: &[&str]) -> Run {
    let out = Command::new("kubectl")
        .args(args)
        .env("PATH", path())
        .env("KUBECONFIG", kubeconfig())
        .env("NO_COLOR", "1")
        .output()
        .expect("kubectl runs");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Start `kubectl args` without waiting, for tests that interrupt it.
pub fn kubectl_spawn(args: &[&str]) -> std::process::Child {
    Command::new("kubectl")
        .args(args)
        .env("PATH", path())
        .env("KUBECONFIG", kubeconfig())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl starts")
}

/// Switch a mesh scenario on (scripts/mesh/scenario.sh); `baseline` restores the default.
pub fn scenario(name: &str, context: &str) {
    let out = Command::new("bash")
        .arg(repo().join("scripts/mesh/scenario.sh"))
        .args([name, "--context", context])
        .env("PATH", path())
        .output()
        .expect("scenario.sh runs");
    assert!(
        out.status.success(),
        "scenario {name} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Tests that switch scenarios on a shared cluster must not overlap, within this process or with another test
/// run on the same mesh; they hold this guard (a mutex and an exclusive lock on a file in the mesh's state dir).
pub struct Exclusive {
    _file: Option<std::fs::File>,
    _guard: std::sync::MutexGuard<'static, ()>,
}

pub fn exclusive() -> Exclusive {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(mesh_dir().join("e2e.lock")).ok();
    if let Some(f) = &file {
        let _ = f.lock();
    }
    Exclusive { _file: file, _guard: guard }
}

/// Poll `ready` every half second until it holds or `timeout` passes; false on timeout.
pub fn wait_until(timeout: std::time::Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    ready()
}
