//! One file per subcommand; `common` holds what they share (reading `-f`, thresholds, the clock, the mesh's
//! trust domain and roots).

pub mod chain;
pub mod common;
pub mod inspect;
pub mod root_consistency;
pub mod xfcc;
