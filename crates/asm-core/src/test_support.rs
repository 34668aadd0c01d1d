//! Test-only: reading the fixtures saved from real runs (tests/fixtures/<plugin>/, each with its capture
//! script), so every unit test names its fixture the same way and a missing file says which.

use std::path::PathBuf;

pub fn fixture_path(folder: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(folder).join(name)
}

pub fn fixture(folder: &str, name: &str) -> String {
    let path = fixture_path(folder, name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture_bytes(folder: &str, name: &str) -> Vec<u8> {
    let path = fixture_path(folder, name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
