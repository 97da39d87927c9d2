//! The real `tally` binary as a child process.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How long a server may take to say it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What the server printed when it came up.
#[derive(Debug, Clone)]
pub struct Started {
    /// `http://127.0.0.1:PORT` (or https).
    pub base_url: String,
    /// The one-time setup link, present on an empty instance.
    pub setup_url: Option<String>,
}

/// A running `tally serve`. Killed when dropped.
pub struct TallyProcess {
    child: Child,
    pub started: Started,
    /// Every line the process printed so far (stdout and stderr), for assertions.
    output: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl TallyProcess {
    /// Starts `tally serve --listen 127.0.0.1:0 --data-dir DATA_DIR` plus `args`, with
    /// `env` added to a cleaned environment, and waits until it prints where it listens.
    pub async fn serve(binary: &Path, data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> TallyProcess {
        let mut command = Command::new(binary);
        command.arg("serve").arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(data_dir).args(args);
        Self::spawn(command, env, "Tally is listening on ").await
    }

    /// Starts `tally` with `args` (a query cluster's `scheduler` or `executor`) and waits
    /// until it prints a line starting with `ready`; the rest of that line is its
    /// [`TallyProcess::base_url`].
    pub async fn start(binary: &Path, args: &[&str], env: &[(&str, &str)], ready: &str) -> TallyProcess {
        let mut command = Command::new(binary);
        command.args(args);
        Self::spawn(command, env, ready).await
    }

    async fn spawn(mut command: Command, env: &[(&str, &str)], ready: &str) -> TallyProcess {
        for (name, _) in std::env::vars() {
            if name.starts_with("TALLY_") {
                command.env_remove(name);
            }
        }
        command.envs(env.iter().copied());
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null()).kill_on_drop(true);
        let mut child = command.spawn().expect("start the tally binary");
        let (sender, mut output) = mpsc::unbounded_channel();
        forward_lines(child.stdout.take().expect("stdout"), sender.clone());
        forward_lines(child.stderr.take().expect("stderr"), sender);

        let mut seen = Vec::new();
        let mut base_url = None;
        let mut setup_url = None;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while base_url.is_none() {
            let line = match tokio::time::timeout_at(deadline, output.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!("tally exited before listening:\n{}", seen.join("\n")),
                Err(_) => panic!("tally did not start within {START_TIMEOUT:?}:\n{}", seen.join("\n")),
            };
            if let Some(url) = line.strip_prefix("Set up Tally at ") {
                setup_url = Some(url.trim().to_string());
            }
            if let Some(url) = line.strip_prefix(ready) {
                base_url = Some(url.trim().to_string());
            }
            seen.push(line);
        }
        TallyProcess { child, started: Started { base_url: base_url.unwrap_or_default(), setup_url }, output, seen }
    }

    pub fn base_url(&self) -> &str {
        &self.started.base_url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.started.base_url, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("process still running")
    }

    /// Sends SIGTERM, as a service manager would.
    pub fn terminate(&self) {
        let status =
            std::process::Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit and returns its status.
    pub async fn wait(&mut self, limit: Duration) -> ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("tally did not exit within {limit:?}:\n{}", self.output_so_far().join("\n")))
            .expect("wait for tally")
    }

    /// SIGKILL: no chance to clean up.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// All output lines received so far.
    pub fn output_so_far(&mut self) -> Vec<String> {
        while let Ok(line) = self.output.try_recv() {
            self.seen.push(line);
        }
        self.seen.clone()
    }
}

fn forward_lines<R>(reader: R, sender: mpsc::UnboundedSender<String>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
}

/// Runs a `tally` subcommand to completion with the given standard input.
pub async fn run_command(binary: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> CommandOutput {
    use tokio::io::AsyncWriteExt;

    let mut command = Command::new(binary);
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("TALLY_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::piped());
    let mut child = command.spawn().expect("start the tally binary");
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).await.expect("write stdin");
        }
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("tally command finished in time")
        .expect("tally command output");
    CommandOutput {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[derive(Debug)]
pub struct CommandOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A fresh temporary data folder.
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("tally-data");
    (dir, path)
}

/// Starts a test peer (an IdP, a DNS server) that prints `ready` on stdout once it serves;
/// its stdout is drained from then on (or it would die writing to a full pipe), its
/// stderr goes to the test's. Killed when the returned child is dropped.
pub async fn start_peer(mut command: Command, name: &str) -> Child {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("start the {name}: {error}"));
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    // Generous: on a loaded 2-core machine (browsers and engines running beside) a peer that
    // makes its keys at start may take a while.
    let ready = tokio::time::timeout(Duration::from_secs(90), lines.next_line()).await;
    assert!(matches!(ready, Ok(Ok(Some(ref line))) if line == "ready"), "the {name} did not start: {ready:?}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}
