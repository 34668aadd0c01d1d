//! The documented contract (docs/output.md) and the code agree.

use std::path::PathBuf;

/// docs/output.md is the contract automation reads: every id in the catalog must be documented there.
#[test]
fn every_check_id_is_documented() {
    let doc = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/output.md"))
        .expect("docs/output.md");
    for info in asm_core::model::CATALOG {
        assert!(doc.contains(&format!("| `{}` |", info.name)), "{} is missing from docs/output.md", info.name);
    }
}
