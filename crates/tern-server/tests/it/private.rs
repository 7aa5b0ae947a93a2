//! The data directory is private: created 0700 with every file 0600 whatever the umask, and
//! `tern serve` refuses (others) or warns about (group) an existing one that is not.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tern_config::Protocol;
use tern_testkit::{write_test_config, ChildServer};

/// A script that runs `tern` with umask 022, the usual default, whatever the test runner's.
fn tern_with_umask_022(dir: &Path) -> PathBuf {
    let script = dir.join("tern-umask-022");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\numask 022\nexec '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_tern")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Every entry under `dir` whose mode is not 0700 (directories) or 0600 (files).
fn not_private(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let expected = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode != expected {
            out.push(format!("{} {mode:04o}", path.display()));
        }
        if meta.is_dir() {
            not_private(&path, out);
        }
    }
}

/// Waits until POP3 STAT shows `n` messages for `user` (local delivery follows the 250).
fn wait_for_messages(addr: std::net::SocketAddr, user: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut greeting = String::new();
        reader.read_line(&mut greeting).unwrap();
        let mut say = |command: &str| {
            writer
                .write_all(format!("{command}\r\n").as_bytes())
                .unwrap();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with("+OK"), "{command}: {line}");
            line
        };
        say(&format!("USER {user}"));
        say("PASS pw");
        let stat = say("STAT");
        say("QUIT");
        if stat.starts_with(&format!("+OK {n} ")) {
            return;
        }
        assert!(Instant::now() < deadline, "still {stat}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn under_umask_022_the_data_directory_is_0700_and_every_file_in_it_0600() {
    let bin = tempfile::tempdir().unwrap();
    let server = ChildServer::spawn(&tern_with_umask_022(bin.path()));
    server.add_user("alice@example.test");
    // One body small enough for the database, one stored as a file under blobs/.
    let small = b"Subject: small\r\n\r\nhello\r\n".to_vec();
    let mut large = b"Subject: large\r\n\r\n".to_vec();
    large.extend(std::iter::repeat_n(b"0123456789abcdef0123456789abcdef\r\n", 8192).flatten());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(tern_testkit::smtp_client::deliver(
            server.addr(Protocol::Smtp),
            "bob@sender.test",
            &["alice@example.test"],
            &[small, large],
        ));
    wait_for_messages(server.addr(Protocol::Pop3), "alice@example.test", 2);

    let data = server.data_dir();
    let blob_files = (0..=255u8)
        .filter_map(|b| std::fs::read_dir(data.join(format!("blobs/{b:02x}"))).ok())
        .flat_map(|entries| entries.flatten())
        .count();
    assert_eq!(blob_files, 1, "the large body is a file");
    for name in [
        "tern.db",
        "tern.db-wal",
        "tern.db-shm",
        "tern.lock",
        "listeners",
        "tls/key.pem",
        "tls/cert.pem",
    ] {
        assert!(data.join(name).exists(), "{name} is missing");
    }
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    let mut wrong = Vec::new();
    if mode != 0o700 {
        wrong.push(format!("{} {mode:04o}", data.display()));
    }
    not_private(&data, &mut wrong);
    assert!(wrong.is_empty(), "not private: {wrong:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_data_directory_other_users_can_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = tern_config::load(&write_test_config(dir.path(), "")).unwrap();
    std::fs::create_dir(&config.data_dir).unwrap();
    std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = tern_server::serve::start(&config, None).await.unwrap_err();
    let text = format!("{err:#}");
    let fix = format!("chmod 700 {}", config.data_dir.display());
    assert!(
        text.contains(&fix) && text.contains("0755"),
        "the refusal does not name the fix: {text}"
    );
    assert_eq!(
        std::fs::read_dir(&config.data_dir).unwrap().count(),
        0,
        "a refused start created files"
    );
    std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let server = tern_server::serve::start(&config, None)
        .await
        .expect("starts once the fix is applied");
    server.shutdown().await;
}

#[test]
fn serve_warns_about_a_data_directory_its_group_can_open() {
    let mut server = ChildServer::spawn(Path::new(env!("CARGO_BIN_EXE_tern")));
    assert!(!server.log().contains("chmod 700"), "{}", server.log());
    server.terminate();
    let data = server.data_dir();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
    server.restart();
    let log = server.log();
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("opened by its group"))
        .unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(
        warning.contains("0750") && warning.contains(&format!("chmod 700 {}", data.display())),
        "{warning}"
    );
}
