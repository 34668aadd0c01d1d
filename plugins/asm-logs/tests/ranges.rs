//! A log large enough to be scanned in ranges on several threads must give the counts one pass gives: here a
//! real-format fixture repeated until it passes the 64 MiB threshold, so every count is known exactly.

use std::process::Command;

fn scan(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-asm_logs"))
        .args(["scan", "-f", path.to_str().unwrap(), "-o", "json"])
        .output()
        .expect("plugin runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn counts(report: &serde_json::Value) -> Vec<(String, u64)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["data"]["count"].as_u64().or(c["data"]["lines"].as_u64()).unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_large_file_scanned_in_ranges_counts_like_one_pass() {
    let fixture =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/logs/istiod-1.20-text.log")).unwrap();
    let dir = std::env::temp_dir().join(format!("asm-logs-ranges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let small = dir.join("small.log");
    std::fs::write(&small, &fixture).unwrap();
    let copies = (65 << 20) / fixture.len() + 1;
    let big = dir.join("big.log");
    std::fs::write(&big, fixture.repeat(copies)).unwrap();
    let (one, many) = (counts(&scan(&small)), counts(&scan(&big)));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!one.is_empty());
    assert_eq!(one.len(), many.len());
    for ((id, n), (id2, m)) in one.iter().zip(&many) {
        assert_eq!(id, id2);
        assert_eq!(*m, n * copies as u64, "{id}: {m} in {copies} copies of a file with {n}");
    }
}
