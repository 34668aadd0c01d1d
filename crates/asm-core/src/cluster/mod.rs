//! Everything that talks to a Kubernetes API server: choosing contexts like kubectl does, reading objects,
//! exec into pod containers, logs and port-forwards. Failures become [`ClusterError`]s that say what is wrong
//! and what to do, never panics.

pub mod authz;
mod connect;
pub mod debug;
mod error;
mod exec;
pub mod logs;
pub mod mesh;
mod objects;
mod pods;
pub mod portforward;
pub mod rbac;
pub mod services;
pub mod trust;

pub use connect::{Cluster, Selection, connect_all, selected_contexts};
pub use error::ClusterError;
pub use exec::{ExecRequest, exec};
pub use objects::{IstioKind, list_dynamic};
pub use pods::{PodRef, ResolvedPod, find_pod, parse_pod_ref, probe_source};
