//! One pass over a log stream in big blocks: a multi-literal search (aho-corasick, SIMD "Teddy" for a few
//! needles) finds the rare anchor words, and only the lines around a hit are parsed and classified. Ordinary
//! lines are never split, decoded or matched one by one, which is what makes the scan faster than grep.
//!
//! Memory stays flat whatever the input size: the caller's block buffer, a few samples per signature, and
//! tallies whose number of distinct keys is capped.

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use super::line::{Level, parse_line};
use super::signature::{ANCHORS, AuthMatch, Classified, ForbiddenMatch, JwtHint, SignatureKind, TlsReason, classify};

/// Samples kept from the start and from the end of each signature's occurrences.
pub const SAMPLES_EACH_END: usize = 3;
/// Longest sample line kept, in bytes; longer lines are cut (the match is near the start in every variant).
pub const SAMPLE_MAX: usize = 2048;
/// Longest line classified; a longer "line" is garbage or a dump, and is classified on this much around
/// the anchor so one pathological line cannot make the scan quadratic.
const CLASSIFY_MAX: usize = 64 * 1024;
/// Distinct keys kept per tally; further keys are counted under `(other)`.
const MAX_KEYS: usize = 200;

/// One kept occurrence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sample {
    /// Index of the source in the caller's list.
    pub source: usize,
    /// 1-based line number in that source.
    pub line: u64,
    pub time: Option<String>,
    pub level: Option<Level>,
    pub scope: Option<String>,
    pub text: String,
}

/// A count per key with a cap on distinct keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(BTreeMap<String, u64>);

impl Tally {
    pub fn add(&mut self, key: &str, n: u64) {
        if let Some(v) = self.0.get_mut(key) {
            *v += n;
        } else if self.0.len() < MAX_KEYS {
            self.0.insert(key.to_owned(), n);
        } else {
            *self.0.entry("(other)".to_owned()).or_default() += n;
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }

    /// Keys by count, highest first.
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut v: Vec<_> = self.0.iter().map(|(k, c)| (k.clone(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everything seen of one signature in one source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignatureStats {
    pub count: u64,
    /// Earliest and latest parsed timestamps of occurrences (microseconds since the epoch).
    pub first_time: Option<i64>,
    pub last_time: Option<i64>,
    /// Occurrences whose time could not be read.
    pub untimed: u64,
    pub first_samples: Vec<Sample>,
    /// The latest occurrences, oldest first once finished.
    pub last_samples: Vec<Sample>,
    pub levels: Tally,
    /// tls: alert reason; rbac: `verb resource group scope` key; serverca: hint.
    pub kinds: Tally,
    /// tls: remote IP; serverca: client IP; rbac: user.
    pub peers: Tally,
    /// rbac: distinct forbidden requests, kept whole (capped).
    pub forbidden: Vec<(ForbiddenMatch, u64)>,
    /// serverca: authenticator -> most recent error text.
    pub authenticator_errors: BTreeMap<String, String>,
    pub clusters: Tally,
    pub runbook_regex_hits: u64,
}

impl SignatureStats {
    fn record_time(&mut self, t: Option<i64>) {
        match t {
            Some(t) => {
                self.first_time = Some(self.first_time.map_or(t, |f| f.min(t)));
                self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
            }
            None => self.untimed += 1,
        }
    }

    fn keep_sample(&mut self, s: Sample) {
        if self.first_samples.len() < SAMPLES_EACH_END {
            self.first_samples.push(s);
        } else {
            if self.last_samples.len() == SAMPLES_EACH_END {
                self.last_samples.remove(0);
            }
            self.last_samples.push(s);
        }
    }

    /// First samples then last samples, without duplicates.
    pub fn samples(&self) -> Vec<&Sample> {
        self.first_samples.iter().chain(self.last_samples.iter()).collect()
    }
}

/// What one source held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceStats {
    pub lines: u64,
    pub bytes: u64,
    /// Time of the first and last lines that carried one: the window the source covers.
    pub window_start: Option<i64>,
    pub window_end: Option<i64>,
    pub signatures: [SignatureStats; 3],
    /// TLS handshake errors that were not about certificates (EOF, resets...), by kind.
    pub other_handshake: Tally,
    /// Lines where an anchor occurred but no signature matched (near misses).
    pub near_misses: u64,
    /// Lines classified (anchors hit).
    pub candidates: u64,
}

impl SourceStats {
    pub fn get(&self, kind: SignatureKind) -> &SignatureStats {
        &self.signatures[kind.index()]
    }
}

impl SourceStats {
    /// Append the stats of the bytes that follow this part of the same source (a large file scanned in ranges
    /// on several threads): counts add, times widen, line numbers of `later` shift by this part's lines, and
    /// the kept samples are the first and last of the whole. Tallies and the forbidden list keep their caps;
    /// past a cap the keys kept can differ from a single pass (which keeps the first seen).
    pub fn append(&mut self, later: SourceStats) {
        let offset = self.lines;
        self.lines += later.lines;
        self.bytes += later.bytes;
        self.window_start = self.window_start.or(later.window_start);
        self.window_end = later.window_end.or(self.window_end);
        self.other_handshake.merge(&later.other_handshake);
        self.near_misses += later.near_misses;
        self.candidates += later.candidates;
        for (mine, theirs) in self.signatures.iter_mut().zip(later.signatures) {
            mine.append(theirs, offset);
        }
    }
}

impl SignatureStats {
    fn append(&mut self, later: SignatureStats, line_offset: u64) {
        self.add_counts(&later);
        // Each part kept its own first and last samples, so replaying them in order keeps the whole's.
        for mut s in later.first_samples.into_iter().chain(later.last_samples) {
            s.line += line_offset;
            self.keep_sample(s);
        }
    }

    /// Add another part's or another source's counts, times, tallies, forbidden requests and authenticator
    /// errors (the other's errors win: they are the later ones); samples are the caller's business.
    pub fn add_counts(&mut self, other: &SignatureStats) {
        self.count += other.count;
        self.untimed += other.untimed;
        self.first_time = match (self.first_time, other.first_time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_time = match (self.last_time, other.last_time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.levels.merge(&other.levels);
        self.kinds.merge(&other.kinds);
        self.peers.merge(&other.peers);
        self.clusters.merge(&other.clusters);
        for (f, n) in &other.forbidden {
            add_forbidden_n(&mut self.forbidden, f.clone(), *n);
        }
        for (k, v) in &other.authenticator_errors {
            if self.authenticator_errors.len() < 16 || self.authenticator_errors.contains_key(k) {
                self.authenticator_errors.insert(k.clone(), v.clone());
            }
        }
        self.runbook_regex_hits += other.runbook_regex_hits;
    }
}

/// The anchor automaton, built once and shared by every source of a run.
#[derive(Debug, Clone)]
pub struct Anchors {
    ac: AhoCorasick,
}

impl Default for Anchors {
    fn default() -> Self {
        Self::new()
    }
}

impl Anchors {
    pub fn new() -> Self {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .kind(Some(AhoCorasickKind::DFA))
            .build(ANCHORS.iter().map(|(a, _)| *a))
            .unwrap_or_else(|e| unreachable!("static anchors: {e}"));
        Anchors { ac }
    }
}

/// Scans one source. Feed it blocks that end at line boundaries (see [`LineBuffer`]).
#[derive(Debug)]
pub struct Scanner<'a> {
    anchors: &'a Anchors,
    source: usize,
    stats: SourceStats,
    /// Whether the last block ended exactly at a newline (so the next block starts a new line).
    at_line_start: bool,
}

impl<'a> Scanner<'a> {
    pub fn new(anchors: &'a Anchors, source: usize) -> Self {
        Scanner { anchors, source, stats: SourceStats::default(), at_line_start: true }
    }

    /// Scan a block of whole lines (the last one may lack its newline only at end of input).
    pub fn scan_block(&mut self, block: &[u8]) {
        if block.is_empty() {
            return;
        }
        self.stats.bytes += block.len() as u64;
        if self.stats.window_start.is_none() {
            self.stats.window_start = first_time(block);
        }
        let mut counted = 0usize;
        let mut pos = 0usize;
        while pos < block.len() {
            let Some(m) = self.anchors.ac.find(Input::new(block).span(pos..block.len())) else {
                break;
            };
            let start = memchr::memrchr(b'\n', &block[..m.start()]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &block[m.end()..]).map_or(block.len(), |i| m.end() + i);
            self.stats.lines += count_newlines(&block[counted..start]);
            counted = start;
            let line_no = self.stats.lines + 1;
            let line = &block[start..end];
            let line = if line.len() > CLASSIFY_MAX {
                let from = (m.start() - start).saturating_sub(CLASSIFY_MAX / 2);
                let to = (from + CLASSIFY_MAX).min(line.len());
                &line[from..to]
            } else {
                line
            };
            self.classify_line(line, line_no);
            pos = end + 1;
        }
        let ends_with_newline = block.last() == Some(&b'\n');
        self.stats.lines += count_newlines(&block[counted.min(block.len())..]);
        if !ends_with_newline {
            // A final line without a newline still counts as a line.
            self.stats.lines += 1;
        }
        self.at_line_start = ends_with_newline;
        // The last line that carries a time ends the window, as documented on `window_end`, whatever the block
        // boundaries (a maximum over blocks would depend on where they fell when lines are not in time order).
        if let Some(t) = last_time(block) {
            self.stats.window_end = Some(t);
        }
    }

    fn classify_line(&mut self, raw: &[u8], line_no: u64) {
        self.stats.candidates += 1;
        let line = parse_line(raw);
        let Some(c) = classify(&line) else {
            self.stats.near_misses += 1;
            return;
        };
        let kind = match c.kind() {
            Some(k) => k,
            None => {
                if let Classified::OtherHandshake(o) = &c {
                    self.stats.other_handshake.add(&o.reason, 1);
                }
                return;
            }
        };
        let sample = Sample {
            source: self.source,
            line: line_no,
            time: line.time_text.clone(),
            level: line.level,
            scope: line.scope.clone(),
            text: truncate_lossy(raw, SAMPLE_MAX),
        };
        let s = &mut self.stats.signatures[kind.index()];
        s.count += 1;
        s.record_time(line.time);
        s.keep_sample(sample);
        s.levels.add(line.level.map_or("unknown", Level::as_str), 1);
        match c {
            Classified::Tls(t) => {
                s.kinds.add(tls_reason_name(t.reason), 1);
                s.peers.add(host_of(&t.remote), 1);
                if t.reason == TlsReason::BadCertificate {
                    s.runbook_regex_hits += 1;
                }
            }
            Classified::Forbidden(f) => {
                s.peers.add(&f.user, 1);
                s.kinds.add(&format!("{} {}", f.verb, f.resource), 1);
                // The runbook's `error.*cannot list resource` is case-sensitive and runs on the raw line: a
                // klog `E0501` header or a `warn` level is no "error" to grep (checked by running the regex
                // on the live mesh's log).
                if memchr::memmem::find_iter(raw, b"error")
                    .next()
                    .is_some_and(|i| memchr::memmem::find(&raw[i..], b"cannot list resource").is_some())
                {
                    s.runbook_regex_hits += 1;
                }
                add_forbidden(&mut s.forbidden, f);
            }
            Classified::Auth(a) => record_auth(s, &a),
            Classified::OtherHandshake(_) => {}
        }
    }

    pub fn finish(self) -> SourceStats {
        self.stats
    }
}

fn record_auth(s: &mut SignatureStats, a: &AuthMatch) {
    if let Some(c) = &a.client {
        s.peers.add(host_of(c), 1);
    }
    if a.hints.is_empty() {
        s.kinds.add("unexplained", 1);
    }
    for h in &a.hints {
        s.kinds.add(jwt_hint_name(*h), 1);
    }
    for e in &a.errors {
        if s.authenticator_errors.len() < 16 || s.authenticator_errors.contains_key(&e.authenticator) {
            s.authenticator_errors.insert(e.authenticator.clone(), e.error.chars().take(400).collect());
        }
    }
    if let Some(c) = &a.cluster {
        s.clusters.add(c, 1);
    }
    if a.runbook_regex_matches {
        s.runbook_regex_hits += 1;
    }
}

fn add_forbidden(list: &mut Vec<(ForbiddenMatch, u64)>, f: ForbiddenMatch) {
    add_forbidden_n(list, f, 1);
}

fn add_forbidden_n(list: &mut Vec<(ForbiddenMatch, u64)>, f: ForbiddenMatch, count: u64) {
    let same = |g: &ForbiddenMatch| {
        g.user == f.user
            && g.verb == f.verb
            && g.resource == f.resource
            && g.api_group == f.api_group
            && g.namespace == f.namespace
            && g.path == f.path
    };
    if let Some((_, n)) = list.iter_mut().find(|(g, _)| same(g)) {
        *n += count;
    } else if list.len() < 50 {
        list.push((f, count));
    }
}

pub fn tls_reason_name(r: TlsReason) -> &'static str {
    match r {
        TlsReason::BadCertificate => "bad certificate",
        TlsReason::UnknownAuthority => "unknown certificate authority",
        TlsReason::Expired => "expired certificate",
        TlsReason::CertificateUnknown => "unknown certificate",
        TlsReason::VerifyFailed => "failed to verify certificate",
    }
}

pub fn jwt_hint_name(h: JwtHint) -> &'static str {
    match h {
        JwtHint::NotAuthenticated => "token not authenticated",
        JwtHint::BadSignature => "token signature not verifiable",
        JwtHint::Expired => "token expired",
        JwtHint::Audience => "token audience",
        JwtHint::Issuer => "token issuer",
        JwtHint::NoToken => "no token",
        JwtHint::UnknownCluster => "unknown cluster",
        JwtHint::TokenReviewForbidden => "tokenreviews forbidden",
        JwtHint::NotServiceAccount => "not a service account token",
    }
}

/// `10.0.0.1:1234` -> `10.0.0.1`, `[fd00::1]:1234` -> `fd00::1`: ports are ephemeral and only split tallies.
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => addr,
    }
}

fn truncate_lossy(raw: &[u8], max: usize) -> String {
    let cut = &raw[..raw.len().min(max)];
    let mut s = String::from_utf8_lossy(cut).trim_end_matches(['\r', '\n']).to_owned();
    if raw.len() > max {
        s.push('…');
    }
    s
}

/// Newlines in a slice, eight bytes at a time: newlines are dense (every ~150 bytes), where a memchr
/// iterator would stop at every one. The zero-byte test is the exact one (no false positives from borrows).
fn count_newlines(b: &[u8]) -> u64 {
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NL: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut words = b.chunks_exact(8);
    let mut n = 0u64;
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let x = u64::from_ne_bytes(a) ^ NL;
        let t = !(((x & LO7).wrapping_add(LO7)) | x | LO7);
        n += u64::from(t.count_ones());
    }
    n + words.remainder().iter().filter(|&&c| c == b'\n').count() as u64
}

/// The time of the first line (of the first 16) that has one.
fn first_time(block: &[u8]) -> Option<i64> {
    block.split(|&b| b == b'\n').take(16).find_map(|l| parse_line(&l[..l.len().min(CLASSIFY_MAX)]).time)
}

/// The time of the last line (of the last 16) that has one.
fn last_time(block: &[u8]) -> Option<i64> {
    block
        .rsplit(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .take(16)
        .find_map(|l| parse_line(&l[..l.len().min(CLASSIFY_MAX)]).time)
}

/// A reusable block buffer that hands the scanner whole lines and carries a partial last line over to the
/// next read. I/O stays with the caller: it fills [`LineBuffer::spare`] and calls [`LineBuffer::filled`].
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    len: usize,
}

impl LineBuffer {
    pub const DEFAULT_CAPACITY: usize = 4 * 1024 * 1024;

    pub fn new(capacity: usize) -> Self {
        LineBuffer { buf: vec![0; capacity.max(4096)], len: 0 }
    }

    /// Where the next read goes. Never empty.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// `n` bytes were read into [`spare`](Self::spare): scan the whole lines now held.
    pub fn filled(&mut self, n: usize, scanner: &mut Scanner<'_>) {
        self.len = (self.len + n).min(self.buf.len());
        let end = match memchr::memrchr(b'\n', &self.buf[..self.len]) {
            Some(i) => i + 1,
            // A line longer than the whole buffer: scan what we have rather than grow without bound.
            None if self.len == self.buf.len() => self.len,
            None => return,
        };
        scanner.scan_block(&self.buf[..end]);
        self.buf.copy_within(end..self.len, 0);
        self.len -= end;
    }

    /// End of input: scan the last, unterminated line.
    pub fn finish(&mut self, scanner: &mut Scanner<'_>) {
        if self.len > 0 {
            scanner.scan_block(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

/// Scan an in-memory log (tests, small pastes).
pub fn scan_bytes(anchors: &Anchors, source: usize, data: &[u8]) -> SourceStats {
    let mut scanner = Scanner::new(anchors, source);
    scanner.scan_block(data);
    scanner.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file scanned in two ranges on two threads must report exactly what one pass reports, wherever the
    /// split falls (at a line boundary, as the caller splits).
    #[test]
    fn two_ranges_appended_equal_one_pass_at_every_split() {
        let anchors = Anchors::new();
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/logs");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).expect("logs fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("log") {
                continue;
            }
            files += 1;
            let data = std::fs::read(&path).expect("fixture");
            let whole = scan_bytes(&anchors, 0, &data);
            let splits = std::iter::once(0).chain(memchr::memchr_iter(b'\n', &data).map(|i| i + 1));
            for at in splits {
                let mut first = scan_bytes(&anchors, 0, &data[..at]);
                first.append(scan_bytes(&anchors, 0, &data[at..]));
                assert_eq!(first, whole, "{} split at byte {at}", path.display());
            }
        }
        assert!(files >= 3, "expected the istiod log fixtures in {}", dir.display());
    }

    #[test]
    fn lines_counted_across_blocks_and_without_final_newline() {
        let anchors = Anchors::new();
        let data = b"a\nb\n2024-01-01T00:00:00.000000Z\tinfo\thttp: TLS handshake error from 1.2.3.4:5: remote error: tls: bad certificate\nc";
        let whole = scan_bytes(&anchors, 0, data);
        assert_eq!(whole.lines, 4);
        assert_eq!(whole.get(SignatureKind::TlsBadCertificate).count, 1);
        assert_eq!(whole.get(SignatureKind::TlsBadCertificate).first_samples[0].line, 3);
        // Tiny buffer: lines split across reads and a line longer than the buffer.
        let mut scanner = Scanner::new(&anchors, 0);
        let mut lb = LineBuffer::new(4096);
        let mut long = vec![b'x'; 10_000];
        long.push(b'\n');
        long.extend_from_slice(data);
        for chunk in long.chunks(7) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let spare = lb.spare();
                let n = spare.len().min(rest.len());
                spare[..n].copy_from_slice(&rest[..n]);
                lb.filled(n, &mut scanner);
                rest = &rest[n..];
            }
        }
        lb.finish(&mut scanner);
        let s = scanner.finish();
        assert_eq!(s.get(SignatureKind::TlsBadCertificate).count, 1);
        assert_eq!(s.bytes, long.len() as u64);
    }

    #[test]
    fn newline_count_matches_naive() {
        let data: Vec<u8> = (0..10_007u32).map(|i| [b'\n', b'a', 0x8a, 0x0b, 0xff][(i * 7 % 5) as usize]).collect();
        for cut in [0, 1, 7, 8, 9, 1000, data.len()] {
            let naive = data[..cut].iter().filter(|&&c| c == b'\n').count() as u64;
            assert_eq!(count_newlines(&data[..cut]), naive, "cut {cut}");
        }
    }

    #[test]
    fn host_of_strips_ports() {
        assert_eq!(host_of("10.0.0.1:443"), "10.0.0.1");
        assert_eq!(host_of("[fd00::1]:443"), "fd00::1");
        assert_eq!(host_of("unknown"), "unknown");
    }
}
