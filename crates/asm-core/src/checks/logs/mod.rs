//! `asm-logs scan`: the tallies of the istiod log scanner judged into findings — one per signature and
//! context, plus `logs.sources` saying what was read — with the runbook's remediation, values filled in.
//!
//! Transient or persistent (the runbook: "usually informational and transient; if they persist...") is
//! decided per source, on the window that source covers (its first to last timestamped line):
//! - persistent when the signature is still happening at the end of the window (its last occurrence is
//!   within the final `max(5 min, 10% of the window)`) AND it is not a one-off burst (its occurrences span
//!   at least `min(5 min, 50% of the window)`) AND it occurred at least twice;
//! - transient otherwise; `unknown` when the lines carried no timestamps (klog headers have no year).
//!
//! Status: absent → pass; persistent → fail; transient or unknown → warn (`--fail-on warn` makes it fail).

pub mod rbac;
pub mod remediation;

use serde_json::{Value, json};

use crate::model::{CheckId, Finding, Status};
use crate::parse::istiod_log::{Sample, SignatureKind, SignatureStats, SourceStats, Tally, format_micros};

pub use rbac::{RbacChain, RbacObjects, SubjectAccess, judge_chain};
pub use remediation::{MeshFacts, remediation_for};

const MINUTE_US: i64 = 60_000_000;

/// Where a stream of lines came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceInfo {
    /// `istio-system/istiod-7d4b9c-abcde -c discovery` or a file path or `-`.
    pub name: String,
    pub pod: Option<String>,
    pub namespace: Option<String>,
    pub container: Option<String>,
    /// istio.io/rev of the pod (`default` when unlabelled).
    pub revision: Option<String>,
    /// Why the source could not be read (it is still listed).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Persistence {
    Persistent,
    Transient,
    Unknown,
}

/// The rule in the module comment, on one source.
pub fn persistence(s: &SignatureStats, window: (Option<i64>, Option<i64>)) -> Persistence {
    let (Some(first), Some(last)) = (s.first_time, s.last_time) else {
        return Persistence::Unknown;
    };
    let start = window.0.unwrap_or(first).min(first);
    let end = window.1.unwrap_or(last).max(last);
    let span = end - start;
    let tail = (5 * MINUTE_US).max(span / 10);
    let min_spread = (5 * MINUTE_US).min(span / 2);
    let ongoing = last >= end - tail;
    let spread = last - first >= min_spread;
    if s.count >= 2 && ongoing && spread { Persistence::Persistent } else { Persistence::Transient }
}

pub fn check_id(kind: SignatureKind) -> CheckId {
    match kind {
        SignatureKind::TlsBadCertificate => CheckId::LogsTlsBadCertificate,
        SignatureKind::RbacForbidden => CheckId::LogsRbacForbidden,
        SignatureKind::ServercaAuth => CheckId::LogsServercaAuth,
    }
}

fn title(kind: SignatureKind) -> &'static str {
    match kind {
        SignatureKind::TlsBadCertificate => "TLS handshake errors with a rejected certificate",
        SignatureKind::RbacForbidden => "forbidden (\"cannot list resource\") errors",
        SignatureKind::ServercaAuth => "client authentication failures (serverca/JWT)",
    }
}

/// What a context's scan produced: the sources and what each held.
#[derive(Debug, Clone, Default)]
pub struct ContextScan {
    /// Empty for offline files.
    pub context: String,
    pub sources: Vec<(SourceInfo, SourceStats)>,
}

/// Findings for one context: `logs.sources` first, then one per signature.
pub fn judge(scan: &ContextScan, facts: &MeshFacts) -> Vec<Finding> {
    let mut out = vec![sources_finding(scan)];
    for kind in SignatureKind::ALL {
        out.push(signature_finding(scan, kind, facts));
    }
    out.extend(facts.follow_up_errors.iter().cloned());
    out
}

fn target(scan: &ContextScan) -> String {
    let ok: Vec<_> = scan.sources.iter().filter(|(i, _)| i.error.is_none()).collect();
    if ok.iter().all(|(i, _)| i.pod.is_none()) {
        match ok.as_slice() {
            [(i, _)] => i.name.clone(),
            _ => format!("{} files", ok.len()),
        }
    } else {
        let mut revs: Vec<_> = ok.iter().filter_map(|(i, _)| i.revision.clone()).collect();
        revs.sort();
        revs.dedup();
        format!(
            "istiod ({} pod{}, revision{} {})",
            ok.len(),
            if ok.len() == 1 { "" } else { "s" },
            if revs.len() == 1 { "" } else { "s" },
            revs.join(", ")
        )
    }
}

fn sources_finding(scan: &ContextScan) -> Finding {
    let f = Finding::new(CheckId::LogsSources, &scan.context, target(scan));
    let read: Vec<_> = scan.sources.iter().filter(|(i, _)| i.error.is_none()).collect();
    let failed: Vec<_> = scan.sources.iter().filter(|(i, _)| i.error.is_some()).collect();
    let lines: u64 = read.iter().map(|(_, s)| s.lines).sum();
    let bytes: u64 = read.iter().map(|(_, s)| s.bytes).sum();
    let data = json!({
        "sources": scan.sources.iter().map(|(i, s)| json!({
            "name": i.name, "pod": i.pod, "namespace": i.namespace, "container": i.container,
            "revision": i.revision, "error": i.error, "lines": s.lines, "bytes": s.bytes,
            "window": {"start": s.window_start.map(format_micros), "end": s.window_end.map(format_micros)},
            "candidates": s.candidates, "near_misses": s.near_misses,
            "other_handshake_errors": tally_json(&s.other_handshake, 10),
        })).collect::<Vec<_>>(),
        "lines": lines, "bytes": bytes,
    });
    let mut f = f.data(data);
    for (i, s) in &read {
        f = f.evidence(format!(
            "{}: {} lines, {} bytes{}",
            i.name,
            s.lines,
            s.bytes,
            match (s.window_start, s.window_end) {
                (Some(a), Some(b)) => format!(", {} .. {}", format_micros(a), format_micros(b)),
                _ => String::new(),
            }
        ));
    }
    for (i, _) in &failed {
        f = f.evidence(format!("{}: not read: {}", i.name, i.error.as_deref().unwrap_or("")));
    }
    if read.is_empty() {
        return f.status(Status::Error, "no istiod log could be read; the signatures below are unknown");
    }
    let summary = format!(
        "read {} source{}: {} lines, {}",
        read.len(),
        if read.len() == 1 { "" } else { "s" },
        lines,
        human_bytes(bytes)
    );
    if failed.is_empty() {
        f.status(Status::Pass, summary)
    } else {
        f.status(Status::Warn, format!("{summary}; {} source(s) could not be read", failed.len()))
    }
}

fn signature_finding(scan: &ContextScan, kind: SignatureKind, facts: &MeshFacts) -> Finding {
    let f = Finding::new(check_id(kind), &scan.context, target(scan));
    let read: Vec<_> = scan.sources.iter().filter(|(i, _)| i.error.is_none()).collect();
    if read.is_empty() {
        return f.status(Status::Skip, "no istiod log was read");
    }
    let mut total = SignatureStats::default();
    let mut per_source = Vec::new();
    let mut verdict = Persistence::Transient;
    let mut any_timed = false;
    let mut all_samples: Vec<(&SourceInfo, &Sample)> = Vec::new();
    for (info, stats) in &read {
        let s = stats.get(kind);
        if s.count == 0 {
            continue;
        }
        let p = persistence(s, (stats.window_start, stats.window_end));
        match p {
            Persistence::Persistent => verdict = Persistence::Persistent,
            Persistence::Transient => any_timed = true,
            Persistence::Unknown => {}
        }
        total.add_counts(s);
        all_samples.extend(s.samples().into_iter().map(|x| (info, x)));
        per_source.push(json!({
            "source": info.name, "revision": info.revision, "count": s.count,
            "first_seen": s.first_time.map(format_micros), "last_seen": s.last_time.map(format_micros),
            "persistence": p,
        }));
    }
    if total.count == 0 {
        return f
            .status(Status::Pass, format!("no {}", title(kind)))
            .evidence(format!("0 matches in {} lines", read.iter().map(|(_, s)| s.lines).sum::<u64>()))
            .data(json!({"signature": kind, "count": 0, "runbook_regex": kind.runbook_regex()}));
    }
    if verdict != Persistence::Persistent && !any_timed {
        verdict = Persistence::Unknown;
    }
    // Samples: the first few and the last few over all sources, in time order where times are known.
    all_samples.sort_by(|a, b| {
        (a.1.time.as_deref(), a.0.name.as_str(), a.1.line).cmp(&(b.1.time.as_deref(), b.0.name.as_str(), b.1.line))
    });
    let keep: Vec<_> = if all_samples.len() > 6 {
        all_samples[..3].iter().chain(all_samples[all_samples.len() - 3..].iter()).collect()
    } else {
        all_samples.iter().collect()
    };
    let samples: Vec<Value> = keep
        .iter()
        .map(|(i, s)| {
            json!({"source": i.name, "line": s.line, "time": s.time, "level": s.level,
                   "scope": s.scope, "text": s.text})
        })
        .collect();
    let (status, word) = match verdict {
        Persistence::Persistent => (Status::Fail, "persistent"),
        Persistence::Transient => (Status::Warn, "transient"),
        Persistence::Unknown => (Status::Warn, "persistence unknown (no timestamps)"),
    };
    let when = match (total.first_time, total.last_time) {
        (Some(a), Some(b)) => format!(", {} .. {}", format_micros(a), format_micros(b)),
        _ => String::new(),
    };
    let mut f = f.status(status, format!("{} {}{}: {}", total.count, title(kind), when, word));
    if let Some((i, s)) = keep.last() {
        f = f.evidence(format!("{}:{}: {}", i.name, s.line, s.text));
    }
    for (k, n) in total.kinds.top(5) {
        f = f.evidence(format!("{n}× {k}"));
    }
    let mut data = json!({
        "signature": kind,
        "count": total.count,
        "first_seen": total.first_time.map(format_micros),
        "last_seen": total.last_time.map(format_micros),
        "untimed": total.untimed,
        "persistence": verdict,
        "runbook_regex": kind.runbook_regex(),
        "runbook_regex_would_match": total.runbook_regex_hits,
        "levels": tally_json(&total.levels, 10),
        "kinds": tally_json(&total.kinds, 20),
        "peers": tally_json(&total.peers, 20),
        "by_source": per_source,
        "samples": samples,
    });
    if let Value::Object(m) = &mut data {
        match kind {
            SignatureKind::RbacForbidden => {
                if !facts.rbac.is_empty() {
                    m.insert("rbac_chain".into(), serde_json::to_value(&facts.rbac).unwrap_or(Value::Null));
                }
                m.insert(
                    "forbidden".into(),
                    Value::Array(
                        total
                            .forbidden
                            .iter()
                            .map(|(fm, n)| {
                                let mut v = serde_json::to_value(fm).unwrap_or(Value::Null);
                                if let Value::Object(o) = &mut v {
                                    o.insert("count".into(), json!(n));
                                }
                                v
                            })
                            .collect(),
                    ),
                );
            }
            SignatureKind::ServercaAuth => {
                m.insert("authenticator_errors".into(), json!(total.authenticator_errors));
                m.insert("clusters".into(), tally_json(&total.clusters, 10));
            }
            SignatureKind::TlsBadCertificate => {}
        }
    }
    let (steps, commands, evidence) = remediation_for(kind, &scan.context, &total, facts);
    for e in evidence {
        f = f.evidence(e);
    }
    for c in commands {
        f = f.command(c);
    }
    for s in steps {
        f = f.remediation(s);
    }
    f.data(data)
}

fn tally_json(t: &Tally, n: usize) -> Value {
    Value::Array(t.top(n).into_iter().map(|(k, c)| json!({"key": k, "count": c})).collect())
}

fn human_bytes(b: u64) -> String {
    const U: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{b} B") } else { format!("{v:.1} {}", U[i]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(count: u64, first: i64, last: i64) -> SignatureStats {
        SignatureStats {
            count,
            first_time: Some(first * MINUTE_US),
            last_time: Some(last * MINUTE_US),
            ..Default::default()
        }
    }

    #[test]
    fn persistence_rule() {
        let w = (Some(0), Some(60 * MINUTE_US));
        // Until the end and spread over 20 minutes.
        assert_eq!(persistence(&stats(20, 40, 60), w), Persistence::Persistent);
        // A burst at start-up that stopped.
        assert_eq!(persistence(&stats(5, 0, 2), w), Persistence::Transient);
        // Still going at the end but only a one-minute burst.
        assert_eq!(persistence(&stats(30, 59, 60), w), Persistence::Transient);
        // Stopped ten minutes before the end.
        assert_eq!(persistence(&stats(6, 0, 50), w), Persistence::Transient);
        // A short log (3 minutes) with the errors throughout.
        assert_eq!(persistence(&stats(6, 0, 3), (Some(0), Some(3 * MINUTE_US))), Persistence::Persistent);
        assert_eq!(persistence(&SignatureStats { count: 3, ..Default::default() }, w), Persistence::Unknown);
    }
}
