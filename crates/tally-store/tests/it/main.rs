//! The metadata store conformance suite: every test runs on SQLite and, when
//! `TALLY_TEST_POSTGRES_URL` is set (always under CI), on PostgreSQL.

// Test helpers may unwrap: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conformance;
