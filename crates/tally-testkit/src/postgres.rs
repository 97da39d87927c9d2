//! Fresh PostgreSQL databases for tests, created on the server that
//! `TALLY_TEST_POSTGRES_URL` names and dropped afterwards.

use sqlx::{Connection, Executor, PgConnection};

/// The variable CI sets to the server's admin URL, e.g. `postgres://postgres@127.0.0.1/postgres`.
pub const POSTGRES_URL_ENV: &str = "TALLY_TEST_POSTGRES_URL";

/// The admin URL, or `None` when PostgreSQL tests are not wanted. Panics under CI when the
/// variable is missing, so that CI cannot silently skip half the suite.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").map(|ci| ci != "true").unwrap_or(true),
                "{POSTGRES_URL_ENV} must be set under CI so the PostgreSQL suite runs"
            );
            None
        }
    }
}

/// A database that exists for the life of this value.
pub struct ScratchPostgres {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl ScratchPostgres {
    pub async fn create() -> ScratchPostgres {
        let admin_url = postgres_admin_url().expect("TALLY_TEST_POSTGRES_URL");
        let name = format!("tally_test_{}", tally_types::token::random_hex(8));
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect to the test PostgreSQL server");
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create scratch database");
        let _ = admin.close().await;
        let url = replace_database(&admin_url, &name);
        ScratchPostgres { name, url, admin_url }
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime we can borrow; a short-lived one does the cleanup.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// `postgres://u@h:5432/postgres?x=y` with the database swapped for `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn database_is_swapped() {
        assert_eq!(replace_database("postgres://p@127.0.0.1/postgres", "t1"), "postgres://p@127.0.0.1/t1");
        assert_eq!(replace_database("postgres://p@h:5432", "t1"), "postgres://p@h:5432/t1");
        assert_eq!(replace_database("postgres://p@h/x?sslmode=disable", "t1"), "postgres://p@h/t1?sslmode=disable");
    }
}
