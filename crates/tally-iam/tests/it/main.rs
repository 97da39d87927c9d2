//! Domain tests of the access model against a real metadata store (SQLite, and PostgreSQL
//! when `TALLY_TEST_POSTGRES_URL` is set).

// Test helpers may unwrap: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod resolution;
