//! The asm-certs checks: the runbook's "Check mTLS certificates" (XFCC, the served chain and its root) and,
//! beyond it, whether all clusters of a mesh trust the same root and trust domain.

pub mod admin;
pub mod chain;
pub mod consistency;
pub mod xfcc;
