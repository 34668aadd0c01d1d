//! The exit-code contract, the same whatever `-o` is: 0 all passed (warnings allowed), 1 a check failed
//! (or warned, with `--fail-on warn`), 2 a usage error or a check that could not run. A check that could
//! not run outranks a failure: the answer is incomplete, and scripts must not read it as "only failures".

use super::FailOn;
use crate::model::{Report, Status};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAIL: u8 = 1;
pub const EXIT_ERROR: u8 = 2;
/// What shells report for a command stopped by SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn exit_code(report: &Report, fail_on: FailOn) -> u8 {
    match report.worst() {
        Some(Status::Error) => EXIT_ERROR,
        Some(Status::Fail) => EXIT_FAIL,
        Some(Status::Warn) if fail_on == FailOn::Warn => EXIT_FAIL,
        _ => EXIT_OK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckId, Finding};

    fn report(statuses: &[Status]) -> Report {
        Report::new(statuses.iter().map(|s| Finding::new(CheckId::TlsPlaintext, "c", "t").status(*s, "x")).collect())
    }

    #[test]
    fn worst_status_against_the_threshold() {
        assert_eq!(exit_code(&report(&[]), FailOn::Fail), EXIT_OK);
        assert_eq!(exit_code(&report(&[Status::Pass, Status::Warn, Status::Skip]), FailOn::Fail), EXIT_OK);
        assert_eq!(exit_code(&report(&[Status::Pass, Status::Warn]), FailOn::Warn), EXIT_FAIL);
        assert_eq!(exit_code(&report(&[Status::Fail, Status::Pass]), FailOn::Fail), EXIT_FAIL);
        assert_eq!(exit_code(&report(&[Status::Fail, Status::Error]), FailOn::Fail), EXIT_ERROR);
    }
}
