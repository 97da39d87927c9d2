//! The metadata store conformance suite: every test runs on SQLite and, when
//! `TALLY_TEST_POSTGRES_URL` is set (always under CI), on PostgreSQL.

mod conformance;
