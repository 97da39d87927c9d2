use std::collections::BTreeMap;
use std::io::Write;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn write_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn defaults_need_nothing() {
    let config = Config::load(&Overrides::default(), &env(&[])).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.data_dir, PathBuf::from("./tally-data"));
    assert_eq!(config.metadata.url, DatabaseUrl::Sqlite { path: PathBuf::from("./tally-data/tally.db") });
    assert_eq!(config.log.format, LogFormat::Pretty);
    assert!(config.tls.is_none());
    assert!(!config.is_https());
}

#[test]
fn file_then_env_then_flags() {
    let file = write_file("listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/a\"\n[log]\nformat = \"json\"\n");
    let overrides = Overrides { config_file: Some(file.path().into()), ..Default::default() };
    let config = Config::load(&overrides, &env(&[])).unwrap();
    assert_eq!(config.listen.port(), 9000);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.metadata.url, DatabaseUrl::Sqlite { path: PathBuf::from("/srv/a/tally.db") });

    let vars = env(&[("TALLY_LISTEN", "127.0.0.1:9100"), ("TALLY_DATA_DIR", "/srv/b")]);
    let config = Config::load(&overrides, &vars).unwrap();
    assert_eq!(config.listen.port(), 9100);
    assert_eq!(config.data_dir, PathBuf::from("/srv/b"));

    let flags = Overrides { listen: Some("127.0.0.1:9200".into()), ..overrides };
    let config = Config::load(&flags, &vars).unwrap();
    assert_eq!(config.listen.port(), 9200);
}

#[test]
fn config_path_from_environment() {
    let file = write_file("listen = \"127.0.0.1:9300\"\n");
    let vars = env(&[("TALLY_CONFIG", file.path().to_str().unwrap())]);
    let config = Config::load(&Overrides::default(), &vars).unwrap();
    assert_eq!(config.listen.port(), 9300);
}

#[test]
fn unknown_file_key_is_named() {
    let file = write_file("[http]\nmax_body = 5\n");
    let overrides = Overrides { config_file: Some(file.path().into()), ..Default::default() };
    let error = Config::load(&overrides, &env(&[])).unwrap_err().to_string();
    assert!(error.contains("max_body"), "{error}");
    assert!(error.contains("unknown field"), "{error}");
}

#[test]
fn unknown_env_var_is_named_and_test_vars_are_ignored() {
    let error = Config::load(&Overrides::default(), &env(&[("TALLY_LISTN", "x")])).unwrap_err().to_string();
    assert!(error.contains("TALLY_LISTN"), "{error}");
    Config::load(&Overrides::default(), &env(&[("TALLY_TEST_POSTGRES_URL", "x"), ("HOME", "/root")])).unwrap();
}

#[test]
fn bad_values_name_key_and_origin() {
    let cases = [
        ("TALLY_LISTEN", "localhost", "`listen` (from TALLY_LISTEN)"),
        ("TALLY_METADATA_URL", "mysql://x", "`metadata.url`"),
        ("TALLY_LOG_FORMAT", "xml", "`log.format`"),
        ("TALLY_HTTP_MAX_BODY_BYTES", "lots", "`http.max_body_bytes`"),
        ("TALLY_HTTP_REQUEST_TIMEOUT_SECS", "0", "outside"),
        ("TALLY_PUBLIC_URL", "ftp://x", "`public_url`"),
        ("TALLY_TLS_CERT", "/c.pem", "`tls.key`"),
    ];
    for (name, value, expected) in cases {
        let error = Config::load(&Overrides::default(), &env(&[(name, value)])).unwrap_err().to_string();
        assert!(error.contains(expected), "{name}={value}: {error}");
    }
}

#[test]
fn printed_config_hides_database_password() {
    let vars = env(&[("TALLY_METADATA_URL", "postgres://tally:s3cret@db.internal/tally")]);
    let config = Config::load(&Overrides::default(), &vars).unwrap();
    let printed = config.to_masked_toml();
    assert!(printed.contains("postgres://tally:***@db.internal/tally"), "{printed}");
    assert!(!printed.contains("s3cret"));
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[test]
fn https_when_tls_or_public_url_says_so() {
    let vars = env(&[("TALLY_PUBLIC_URL", "https://tally.example.com/")]);
    let config = Config::load(&Overrides::default(), &vars).unwrap();
    assert!(config.is_https());
    assert_eq!(config.base_url(config.listen), "https://tally.example.com");
}
