//! One file per subcommand.

pub mod scan;
