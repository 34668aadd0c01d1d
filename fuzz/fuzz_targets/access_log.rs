//! Envoy access-log lines (Istio's TEXT and JSON formats) and Cloud Logging exports.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            let _ = asm_core::parse::access_log::parse_line(line);
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let _ = asm_core::parse::access_log::record_from_json(&v);
            let _ = asm_core::parse::cloud_logging::record_from_value(&v);
        }
        let mut reader = asm_core::parse::cloud_logging::Reader::new();
        for line in text.lines() {
            let _ = reader.push_line(line);
        }
        let _ = reader.finish();
    }
});
