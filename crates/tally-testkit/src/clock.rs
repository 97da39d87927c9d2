//! A clock the running server reads from a file (`TALLY_TEST_CLOCK_FILE`), so tests move
//! time instead of sleeping.

use std::path::{Path, PathBuf};

/// Unix time in a file.
pub struct TestClock {
    path: PathBuf,
    seconds: i64,
    _dir: tempfile::TempDir,
}

impl TestClock {
    pub fn at(seconds: i64) -> TestClock {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        std::fs::write(&path, seconds.to_string()).unwrap();
        TestClock { path, seconds, _dir: dir }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn now(&self) -> i64 {
        self.seconds
    }

    pub fn advance(&mut self, seconds: i64) {
        self.seconds += seconds;
        std::fs::write(&self.path, self.seconds.to_string()).unwrap();
    }
}
