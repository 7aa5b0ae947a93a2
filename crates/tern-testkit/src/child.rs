//! A server in a child process: for tests that kill it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tern_config::Protocol;

use crate::write_test_config;

/// The `tern` binary next to the running test executable (`target/<profile>/tern`).
/// Integration tests of `tern-server` have it built by cargo; others need
/// `cargo build -p tern-server` first.
pub fn tern_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_tern") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join("tern");
    assert!(
        path.exists(),
        "{} not found: build it with `cargo build -p tern-server`",
        path.display()
    );
    path
}

/// A `tern serve` child process on a temporary directory. Killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct ChildServer {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub addrs: Vec<(Protocol, SocketAddr)>,
    binary: PathBuf,
    child: Option<Child>,
}

impl ChildServer {
    pub fn spawn(binary: &Path) -> Self {
        Self::spawn_with(binary, "")
    }

    /// [`ChildServer::spawn`] with `extra` TOML over the test configuration.
    pub fn spawn_with(binary: &Path, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = write_test_config(dir.path(), extra);
        let mut server = Self {
            dir,
            config_path,
            addrs: Vec::new(),
            binary: binary.to_path_buf(),
            child: None,
        };
        server.restart();
        server
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Creates an account with the password "pw" through the CLI (`tern user add`), as an
    /// administrator would while the server runs. Panics with the command's error otherwise.
    pub fn add_user(&self, address: &str) {
        let add = self.cli(&["user", "add", address], "pw\n");
        assert!(
            add.status.success(),
            "tern user add {address}: {}",
            String::from_utf8_lossy(&add.stderr)
        );
    }

    /// Runs `tern <args> --config <this server's file>` to completion, with `stdin` as input.
    pub fn cli(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new(&self.binary)
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tern");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        child.wait_with_output().expect("tern finishes")
    }

    /// Starts (or starts again) the server and waits until it listens.
    pub fn restart(&mut self) {
        self.kill();
        let listeners = self.data_dir().join(tern_server::serve::LISTENERS_FILE);
        let _ = std::fs::remove_file(&listeners);
        // The log goes to a file: a pipe nobody reads would fill up and stall the server.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        let mut child = Command::new(&self.binary)
            .args(["serve", "--domain", "example.test", "--config"])
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tern serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&listeners) {
                self.addrs = parse_listeners(&text);
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("tern serve exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "tern serve did not start within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    pub fn addr(&self, protocol: Protocol) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(p, _)| *p == protocol)
            .map(|(_, a)| *a)
            .expect("protocol is listening")
    }

    /// The server's process id while it runs (to read its `/proc` entries).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no shutdown, no flush, like a crash or the OOM killer.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit and returns its exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().ok()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn parse_listeners(text: &str) -> Vec<(Protocol, SocketAddr)> {
    text.lines()
        .filter_map(|line| {
            let (name, addr) = line.split_once(' ')?;
            let protocol = Protocol::ALL.into_iter().find(|p| p.key() == name)?;
            Some((protocol, addr.parse().ok()?))
        })
        .collect()
}
