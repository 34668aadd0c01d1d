//! Whatever `openssl s_client -showcerts` printed, PEM blocks included.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = asm_core::parse::x509::parse_pem_bundle(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = asm_core::parse::sclient::parse_sclient(text);
    }
});
