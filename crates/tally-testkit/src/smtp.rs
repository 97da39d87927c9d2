//! A real SMTP server for tests: Python's `aiosmtpd`, from the test virtualenv that
//! `.ci/test` prepares (`TALLY_TEST_PYTHON`), printing every message it receives.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// A running `aiosmtpd` on a free loopback port. Killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    _child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl SmtpServer {
    pub async fn start(python: &str) -> SmtpServer {
        let port = crate::free_port();
        let mut child = Command::new(python)
            .args(["-u", "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Debugging", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start aiosmtpd");
        let (sender, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return SmtpServer { port, _child: child, lines };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not start on port {port}");
    }

    /// The next message received (headers and body), waiting up to ten seconds.
    pub async fn next_message(&mut self) -> String {
        let mut message = Vec::new();
        let mut inside = false;
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.recv())
                .await
                .expect("a message arrives in time")
                .expect("aiosmtpd still running");
            if line.contains("MESSAGE FOLLOWS") {
                inside = true;
            } else if line.contains("END MESSAGE") {
                // Undo quoted-printable soft line breaks so links read whole.
                return message.join("\n").replace("=\n", "").replace("=3D", "=");
            } else if inside {
                message.push(line);
            }
        }
    }
}
