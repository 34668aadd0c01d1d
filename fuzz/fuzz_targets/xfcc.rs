//! X-Forwarded-Client-Cert values and /headers bodies: quoted and escaped values, multi-hop lists.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = asm_core::parse::xfcc::parse_xfcc(text);
        let _ = asm_core::parse::xfcc::xfcc_from_headers_json(text);
        let _ = asm_core::parse::xfcc::xfcc_from_text(text);
        let _ = asm_core::parse::xfcc::parse_spiffe(text);
    }
});
