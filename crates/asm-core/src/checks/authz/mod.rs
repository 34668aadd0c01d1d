//! The asm-authz checks: is a request denied by the proxy or the application, which policy and rule denied
//! what the access logs show, which policies apply to a workload, and the runbook's deny-everything policy.

pub mod denials;
pub mod deny_namespace;
pub mod enforced;
pub mod policies;
