//! Drives the real `tally` binary through its doors: the command line and HTTP.

// Test helpers may unwrap: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod admin;
mod alerts;
mod boards;
mod cluster;
mod cohorts;
mod data_views;
mod domains;
mod errors;
mod ingest;
mod lexicon;
mod lifecycle;
mod mail;
mod object_storage;
mod observability;
mod openapi;
mod privacy;
mod query;
mod query_api;
mod saml;
mod scim;
mod sdk_browser;
mod setup;
mod signin;
mod sso;
mod support;
mod tls;
mod web_app;
