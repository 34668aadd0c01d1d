//! istiod log bytes in any shape (text, JSON, klog, invalid UTF-8), scanned as one block and line by line.
#![no_main]
use asm_core::parse::istiod_log::{parse_line, scan::scan_bytes, scan::Anchors};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let anchors = Anchors::new();
    let _ = scan_bytes(&anchors, 0, data);
    for line in data.split(|b| *b == b'\n') {
        let _ = parse_line(line);
    }
});
