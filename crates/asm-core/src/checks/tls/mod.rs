//! The asm-tls checks: the runbook's "Verify TLS enforcement", the injector caBundle, and mTLS modes.

pub mod mtls_mode;
pub mod plaintext;
pub mod webhook;
