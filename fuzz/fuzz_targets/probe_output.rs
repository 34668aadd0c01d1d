//! What a probe's curl printed, judged whatever the runtime said about the exit status.
#![no_main]
use asm_core::checks::tls::plaintext::judge;
use asm_core::model::{ExecOutput, ExitReport};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (stdout, stderr) = text.split_once('\u{0}').unwrap_or((&text, ""));
    for exit in [ExitReport::Unreported, ExitReport::Success, ExitReport::Code { code: 56 }] {
        let out = ExecOutput { stdout: stdout.to_owned(), stderr: stderr.to_owned(), exit };
        let _ = judge(&out);
    }
});
