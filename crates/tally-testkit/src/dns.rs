//! A DNS server on loopback (Python's dnslib, `tests/peers/dns_server.py`) answering TXT
//! queries from records the test sets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::process::{Child, Command};

pub struct DnsServer {
    pub addr: String,
    records: BTreeMap<String, Vec<String>>,
    file: PathBuf,
    _dir: tempfile::TempDir,
    _child: Child,
}

impl DnsServer {
    pub async fn start(python: &str) -> DnsServer {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("records.json");
        std::fs::write(&file, "{}").unwrap();
        let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/dns_server.py");
        let mut command = Command::new(python);
        command.arg("-u").arg(script).arg(&file).arg(port.to_string());
        let child = crate::process::start_peer(command, "DNS server").await;
        DnsServer { addr: format!("127.0.0.1:{port}"), records: BTreeMap::new(), file, _dir: dir, _child: child }
    }

    pub fn set_txt(&mut self, name: &str, values: &[&str]) {
        self.records.insert(name.to_string(), values.iter().map(|v| v.to_string()).collect());
        std::fs::write(&self.file, serde_json::to_string(&self.records).unwrap()).unwrap();
    }

    pub fn remove(&mut self, name: &str) {
        self.records.remove(name);
        std::fs::write(&self.file, serde_json::to_string(&self.records).unwrap()).unwrap();
    }
}
