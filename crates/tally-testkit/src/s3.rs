//! A real S3-compatible server for tests: `moto`'s server (PyPI `moto[server]`) from the
//! test virtualenv (`TALLY_TEST_PYTHON`), on a free loopback port, speaking S3's HTTP API.
//! Tally reaches it through `object_store`'s S3 client as it would reach AWS.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A running S3 server with one bucket. Killed when dropped.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    _child: Child,
}

impl S3Server {
    /// Starts the server and creates `bucket`.
    pub async fn start(python: &str, bucket: &str) -> S3Server {
        let port = crate::free_port();
        let child = Command::new(python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto's S3 server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = crate::http_client(None);
        for _ in 0..300 {
            if let Ok(reply) = client.put(format!("{endpoint}/{bucket}")).send().await
                && reply.status().is_success()
            {
                return S3Server { endpoint, bucket: bucket.to_string(), _child: child };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the S3 server did not start on port {port}");
    }

    /// The keys of the bucket's objects under `prefix`, sorted (ListObjectsV2).
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let url = format!("{}/{}?list-type=2&prefix={prefix}&max-keys=1000", self.endpoint, self.bucket);
        let text = crate::http_client(None).get(url).send().await.unwrap().text().await.unwrap();
        let mut keys: Vec<String> =
            text.split("<Key>").skip(1).filter_map(|rest| rest.split("</Key>").next()).map(str::to_string).collect();
        keys.sort();
        keys
    }

    /// Puts `bytes` at `key` (as a crash would have left an object behind).
    pub async fn put(&self, key: &str, bytes: &'static [u8]) {
        let url = format!("{}/{}/{key}", self.endpoint, self.bucket);
        let reply = crate::http_client(None).put(url).body(bytes).send().await.unwrap();
        assert!(reply.status().is_success(), "{reply:?}");
    }

    /// The `[[regions]]` table of a region whose event files live in the bucket under
    /// `prefix`.
    pub fn region_toml(&self, name: &str, prefix: &str) -> String {
        format!(
            "[[regions]]\nname = \"{name}\"\nstorage = \"s3://{}/{prefix}\"\ns3_endpoint = \"{}\"\n\
             s3_region = \"us-east-1\"\ns3_access_key_id = \"tally-test\"\n\
             s3_secret_access_key = \"{SECRET}\"\ns3_allow_http = true\n",
            self.bucket, self.endpoint
        )
    }
}

/// The secret key tests give Tally (the server accepts any): it must never appear in logs.
pub const SECRET: &str = "s3-secret-never-logged-7f3a";
