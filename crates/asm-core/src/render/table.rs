//! The table for people: checks grouped by id with their title, one mark per finding, the first line of
//! evidence under the summary, and the next steps under anything that is not a pass.

use comfy_table::presets::NOTHING;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table};

use crate::model::{CATALOG, Report, Status};

fn mark(status: Status) -> (&'static str, Color) {
    match status {
        Status::Pass => ("✔ pass", Color::Green),
        Status::Warn => ("! warn", Color::Yellow),
        Status::Fail => ("✘ fail", Color::Red),
        Status::Error => ("? error", Color::Magenta),
        Status::Skip => ("- skip", Color::DarkGrey),
    }
}

pub fn render_table(report: &Report, color: bool, wide: bool) -> String {
    if report.checks.is_empty() {
        return "no checks ran\n".into();
    }
    let mut out = String::new();
    let mut ids: Vec<_> = report.checks.iter().map(|f| f.id).collect();
    ids.dedup();
    let mut seen = Vec::new();
    for id in ids {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let title = CATALOG.iter().find(|c| c.id == id).map(|c| c.title).unwrap_or_default();
        out.push_str(&format!("{id}  {title}\n"));
        let mut table = Table::new();
        table.load_preset(NOTHING).set_content_arrangement(ContentArrangement::Dynamic);
        if !color {
            table.force_no_tty();
        } else {
            table.enforce_styling();
        }
        let multi_context =
            report.checks.iter().map(|f| f.context.as_str()).collect::<std::collections::BTreeSet<_>>().len() > 1;
        for f in report.checks.iter().filter(|f| f.id == id) {
            let (text, colour) = mark(f.status);
            let mut status_cell = Cell::new(text);
            if color {
                status_cell = status_cell.fg(colour).add_attribute(Attribute::Bold);
            }
            let mut body = f.summary.clone();
            let shown = if wide { f.evidence.len() } else { 1 };
            for e in f.evidence.iter().take(shown) {
                body.push_str(&format!("\nevidence: {e}"));
            }
            if !wide && f.evidence.len() > 1 {
                body.push_str(&format!(" (+{} more with --wide)", f.evidence.len() - 1));
            }
            if f.status != Status::Pass {
                for r in &f.remediation {
                    body.push_str(&format!("\n→ {r}"));
                }
            }
            let target = if multi_context { format!("[{}] {}", f.context, f.target) } else { f.target.clone() };
            table.add_row(vec![status_cell, Cell::new(target), Cell::new(body)]);
        }
        for line in table.to_string().lines() {
            out.push_str("  ");
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    let count = |s: Status| report.checks.iter().filter(|f| f.status == s).count();
    out.push_str(&format!(
        "{} checks: {} passed, {} warnings, {} failed, {} errors, {} skipped\n",
        report.checks.len(),
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Error),
        count(Status::Skip)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckId, Finding};

    fn report() -> Report {
        Report::new(vec![
            Finding::new(CheckId::TlsPlaintext, "c", "a -> b")
                .status(Status::Fail, "plain text allowed")
                .evidence("first line")
                .evidence("second line")
                .remediation("do this"),
        ])
    }

    #[test]
    fn narrow_shows_the_first_evidence_line_and_says_how_many_more() {
        let t = render_table(&report(), false, false);
        assert!(t.contains("evidence: first line (+1 more with --wide)"), "{t}");
        assert!(!t.contains("second line"));
        assert!(t.contains("→ do this"));
        assert!(t.contains("1 checks: 0 passed, 0 warnings, 1 failed, 0 errors, 0 skipped"));
    }

    #[test]
    fn wide_shows_every_evidence_line() {
        let t = render_table(&report(), false, true);
        assert!(t.contains("evidence: first line") && t.contains("evidence: second line"), "{t}");
        assert!(!t.contains("more with --wide"));
    }
}
