//! The admin commands, run as the real binary against a real store.

use std::process::{Command, Output, Stdio};

use tern_store::{RecipientPolicy, Resolution};
use tern_testkit::{write_test_config, TestServer};
use tern_types::Address;

fn tern(config: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tern");
    // The command may exit before reading its input (a refused argument): not an error.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "tern failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "tern should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn domains_users_and_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_test_config(dir.path(), "");
    let cfg = cfg.as_path();
    ok(&tern(
        cfg,
        &["domain", "add", "Example.ORG", "--create"],
        "",
    ));
    assert_eq!(ok(&tern(cfg, &["domain", "list"], "")), "example.org\n");
    let err = fails(&tern(cfg, &["domain", "add", "example.org"], ""));
    assert!(err.contains("already exists"), "{err}");

    let err = fails(&tern(cfg, &["user", "add", "bob@nowhere.org"], "pw\n"));
    assert!(
        err.contains("tern domain add nowhere.org"),
        "should say how to fix: {err}"
    );
    ok(&tern(
        cfg,
        &["user", "add", "alice@example.org", "--quota", "10M"],
        "s3cret\n",
    ));
    ok(&tern(cfg, &["user", "add", "bob@example.org"], "other\n"));
    let err = fails(&tern(cfg, &["user", "add", "carol@example.org"], "\n"));
    assert!(err.contains("empty"), "{err}");
    let list = ok(&tern(cfg, &["user", "list"], ""));
    assert!(
        list.contains("alice@example.org\tused=0\tquota=10485760"),
        "{list}"
    );
    assert!(
        list.contains("bob@example.org\tused=0\tquota=unlimited"),
        "{list}"
    );
    assert!(!list.contains("carol"), "{list}");

    ok(&tern(
        cfg,
        &[
            "alias",
            "add",
            "team@example.org",
            "alice@example.org",
            "bob@example.org",
        ],
        "",
    ));
    ok(&tern(
        cfg,
        &["alias", "add", "@example.org", "bob@example.org"],
        "",
    ));
    let err = fails(&tern(
        cfg,
        &["alias", "add", "x@example.org", "nobody@example.org"],
        "",
    ));
    assert!(err.contains("tern user add nobody@example.org"), "{err}");
    let aliases = ok(&tern(cfg, &["alias", "list"], ""));
    assert_eq!(
        aliases,
        "@example.org -> bob@example.org\nteam@example.org -> alice@example.org, bob@example.org\n"
    );
    ok(&tern(cfg, &["alias", "remove", "@example.org"], ""));
    assert_eq!(
        ok(&tern(cfg, &["alias", "list", "example.org"], ""))
            .lines()
            .count(),
        1
    );

    let err = fails(&tern(cfg, &["domain", "remove", "example.org"], ""));
    assert!(err.contains("account"), "{err}");
    ok(&tern(cfg, &["user", "remove", "alice@example.org"], ""));
    ok(&tern(cfg, &["user", "remove", "bob@example.org"], ""));
    ok(&tern(cfg, &["domain", "remove", "example.org"], ""));
    assert_eq!(ok(&tern(cfg, &["domain", "list"], "")), "");
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_test_config(dir.path(), "");
    let err = fails(&tern(&cfg, &["user", "add", "not-an-address"], "pw\n"));
    assert!(err.contains("'@'"), "{err}");
    let err = fails(&tern(&cfg, &["user", "quota", "a@b.org", "lots"], ""));
    assert!(err.contains("500M"), "{err}");
    let err = fails(&tern(&cfg, &["domain", "add", "bad_domain.org"], ""));
    assert!(err.contains("'_'"), "{err}");
}

/// The password hash the running server has for an account.
async fn stored_hash(server: &TestServer, address: &str) -> String {
    server
        .stores()
        .directory
        .account_auth(
            &Address::parse(address).unwrap(),
            RecipientPolicy::default(),
        )
        .await
        .unwrap()
        .expect("account exists")
        .password_hash
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_a_running_server_without_restart() {
    let server = TestServer::start().await;
    let cfg = server.config_path.clone();
    let policy = RecipientPolicy::default();
    let dave = Address::parse("dave+lists@example.test").unwrap();
    assert_eq!(
        server
            .stores()
            .directory
            .resolve_recipient(&dave, policy)
            .await
            .unwrap(),
        Resolution::UnknownUser
    );
    let out = tokio::task::spawn_blocking(move || {
        tern(&cfg, &["user", "add", "dave@example.test"], "pw\n")
    })
    .await
    .unwrap();
    ok(&out);
    match server
        .stores()
        .directory
        .resolve_recipient(&dave, policy)
        .await
        .unwrap()
    {
        Resolution::Accounts(a) => assert_eq!(a[0].address.to_string(), "dave@example.test"),
        other => panic!("the running server does not see the new user: {other:?}"),
    }
    let hash = stored_hash(&server, "dave@example.test").await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(tern_auth::verify_password(
        &tern_auth::Secret::new("pw"),
        &hash
    ));

    let cfg = server.config_path.clone();
    ok(&tokio::task::spawn_blocking(move || {
        tern(&cfg, &["user", "passwd", "dave@example.test"], "new pw\n")
    })
    .await
    .unwrap());
    let hash = stored_hash(&server, "dave@example.test").await;
    assert!(tern_auth::verify_password(
        &tern_auth::Secret::new("new pw"),
        &hash
    ));
    server.stop().await;
}

/// What waits in the queue (here a copy for a full mailbox) is listed with its reason, and
/// an operator can remove it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_list_and_remove() {
    let server = TestServer::start().await;
    let stores = server.stores();
    let alice = server.add_user("alice@example.test").await;
    let bob = server.add_user("bob@example.test").await;
    stores
        .directory
        .set_quota(&Address::parse("alice@example.test").unwrap(), 10)
        .await
        .unwrap();
    let rcpt = |address: &str, account| tern_store::NewRecipient {
        address: address.into(),
        route: tern_store::Route::Local(account),
        notify: None,
        orcpt: None,
    };
    let accepted = stores
        .queue
        .accept(tern_store::NewQueueMessage {
            blob: stores
                .blobs
                .stage(b"Subject: q\r\n\r\ntoo big for alice\r\n".to_vec())
                .await
                .unwrap(),
            trace_prefix: Vec::new(),
            sender: "s@remote.example".into(),
            params: Default::default(),
            recipients: vec![
                rcpt("alice@example.test", alice),
                rcpt("bob@example.test", bob),
            ],
            received_at: 1_700_000_000,
        })
        .await
        .unwrap();
    assert_eq!(accepted.queued, 1);
    let cfg = server.config_path.clone();
    let listed = ok(
        &tokio::task::spawn_blocking(move || tern(&cfg, &["queue", "list"], ""))
            .await
            .unwrap(),
    );
    assert!(
        listed.starts_with(&format!("{}\tfrom=s@remote.example", accepted.id)),
        "{listed}"
    );
    assert!(
        listed.contains("  alice@example.test\tqueued\t"),
        "{listed}"
    );
    assert!(listed.contains("over its storage quota"), "{listed}");
    assert!(!listed.contains("bob@"), "{listed}");
    let cfg = server.config_path.clone();
    let id = accepted.id.to_string();
    let shown = ok(
        &tokio::task::spawn_blocking(move || tern(&cfg, &["queue", "show", &id], ""))
            .await
            .unwrap(),
    );
    assert!(shown.contains("  alice@example.test\tqueued\t"), "{shown}");
    assert!(shown.ends_with("\nSubject: q\n\n"), "{shown:?}");
    assert!(!shown.contains("too big"), "the body is not shown: {shown}");
    let cfg = server.config_path.clone();
    let err = fails(
        &tokio::task::spawn_blocking(move || tern(&cfg, &["queue", "show", "999999"], ""))
            .await
            .unwrap(),
    );
    assert!(err.contains("tern queue list"), "{err}");
    let cfg = server.config_path.clone();
    let id = accepted.id.to_string();
    let retried =
        ok(
            &tokio::task::spawn_blocking(move || tern(&cfg, &["queue", "retry", &id], ""))
                .await
                .unwrap(),
        );
    assert!(retried.contains("1 recipient(s) due now"), "{retried}");
    let cfg = server.config_path.clone();
    let id = accepted.id.to_string();
    let removed =
        ok(
            &tokio::task::spawn_blocking(move || tern(&cfg, &["queue", "remove", &id], ""))
                .await
                .unwrap(),
        );
    assert!(
        removed.contains("1 recipient(s) not delivered"),
        "{removed}"
    );
    assert!(stores.queue.list().await.unwrap().is_empty());
    server.stop().await;
}

#[test]
fn every_subcommand_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["config"],
        &["config", "check"],
        &["domain"],
        &["domain", "add"],
        &["domain", "list"],
        &["domain", "remove"],
        &["user"],
        &["user", "add"],
        &["user", "list"],
        &["user", "passwd"],
        &["user", "quota"],
        &["user", "remove"],
        &["alias"],
        &["alias", "add"],
        &["alias", "list"],
        &["alias", "remove"],
        &["queue"],
        &["queue", "list"],
        &["queue", "retry"],
        &["queue", "remove"],
    ];
    for args in commands {
        let out = Command::new(env!("CARGO_BIN_EXE_tern"))
            .args(*args)
            .arg("--help")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Usage:"),
            "tern {args:?} --help: {text}"
        );
        assert!(
            text.contains("--config"),
            "tern {args:?} --help does not mention --config"
        );
    }
}

#[test]
fn config_check_accepts_good_files_and_names_file_and_key_in_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_test_config(dir.path(), "");
    let text = ok(&tern(&good, &["config", "check"], ""));
    assert!(
        text.contains("OK") && text.contains("smtp") && text.contains("127.0.0.1:0"),
        "{text}"
    );

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tern.example.toml");
    let out = tern(std::path::Path::new(example), &["config", "check"], "");
    // The example names certificate files that do not exist here: the check must say which.
    let err = fails(&out);
    assert!(
        err.contains("tern.example.toml") && err.contains("tls") && err.contains("fullchain.pem"),
        "{err}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[listen]\nsmtp = [\"127.0.0.1:25\"]\nimap = [\"nowhere\"]\n",
    )
    .unwrap();
    let err = fails(&tern(&bad, &["config", "check"], ""));
    assert!(
        err.contains("bad.toml") && err.contains("listen.imap[0]"),
        "{err}"
    );

    let err = fails(&tern(
        &dir.path().join("missing.toml"),
        &["config", "check"],
        "",
    ));
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn admin_commands_without_a_store_say_so_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_test_config(dir.path(), "");
    let data = dir.path().join("data");
    for args in [
        &["user", "list"][..],
        &["domain", "list"],
        &["domain", "add", "example.org"],
        &["alias", "list"],
    ] {
        let err = fails(&tern(&cfg, args, ""));
        assert!(
            err.contains("there is no Tern store in")
                && err.contains(&data.display().to_string())
                && err.contains("tern serve"),
            "tern {args:?}: {err}"
        );
        assert!(!data.exists(), "tern {args:?} created {}", data.display());
    }

    // The built-in default, run in a directory that holds no store.
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["user", "list"])
        .env_remove("TERN_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(err.contains("tern-data"), "{err}");
    assert!(!dir.path().join("tern-data").exists());

    // A new installation may create the store on purpose.
    ok(&tern(
        &cfg,
        &["domain", "add", "example.org", "--create"],
        "",
    ));
    assert_eq!(ok(&tern(&cfg, &["domain", "list"], "")), "example.org\n");
}

/// The effective user id of this process, from /proc (root ignores file permissions).
fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

#[test]
fn an_unwritable_store_names_the_path_and_the_permission_problem() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_test_config(dir.path(), "");
    ok(&tern(
        &cfg,
        &["domain", "add", "example.org", "--create"],
        "",
    ));
    let db = dir.path().join("data/tern.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = if running_as_root() {
        // Root may write anything: run the command as `nobody`, from a copy of the binary it
        // can reach (the build directory may be under /root).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let binary = dir.path().join("tern");
        std::fs::copy(env!("CARGO_BIN_EXE_tern"), &binary).unwrap();
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&binary)
            .args(["user", "list", "--config"])
            .arg(&cfg)
            .output()
            .expect("setpriv (util-linux) runs the command as nobody")
    } else {
        tern(&cfg, &["user", "list"], "")
    };
    let err = fails(&out);
    assert!(
        err.contains(&db.display().to_string()) && err.contains("permission denied"),
        "{err}"
    );
}

#[test]
fn an_internationalised_domain_is_one_domain_in_either_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_test_config(dir.path(), "");
    let cfg = cfg.as_path();
    assert_eq!(
        ok(&tern(
            cfg,
            &["domain", "add", "Bücher.example", "--create"],
            ""
        )),
        "added domain xn--bcher-kva.example bücher.example\n"
    );
    let err = fails(&tern(cfg, &["domain", "add", "xn--bcher-kva.example"], ""));
    assert!(err.contains("already exists"), "{err}");
    ok(&tern(cfg, &["domain", "add", "example.org"], ""));
    assert_eq!(
        ok(&tern(cfg, &["domain", "list"], "")),
        "example.org\nxn--bcher-kva.example\tbücher.example\n"
    );
    ok(&tern(
        cfg,
        &["user", "add", "bob@xn--bcher-kva.example"],
        "pw\n",
    ));
    let err = fails(&tern(cfg, &["user", "add", "bob@bücher.example"], "pw\n"));
    assert!(err.contains("already exists"), "{err}");
    ok(&tern(cfg, &["domain", "remove", "example.org"], ""));
    let err = fails(&tern(cfg, &["domain", "remove", "bücher.example"], ""));
    assert!(err.contains("account"), "{err}");
}

/// `tern dkim generate` makes private key files and prints the records to publish; a message
/// signed with those keys verifies, with the printed records as the DNS answer, in dkimpy
/// (an independent implementation, Debian's python3-dkim).
#[test]
fn dkim_keys_sign_what_dkimpy_verifies() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_test_config(dir.path(), "");
    let cfg = cfg.as_path();
    let err = fails(&tern(cfg, &["dkim", "generate", "example.org"], ""));
    assert!(
        err.contains("no Tern store") || err.contains("tern domain add"),
        "{err}"
    );
    ok(&tern(
        cfg,
        &["domain", "add", "example.org", "--create"],
        "",
    ));
    let err = fails(&tern(cfg, &["dkim", "generate", "other.org"], ""));
    assert!(err.contains("tern domain add other.org"), "{err}");
    let printed = ok(&tern(cfg, &["dkim", "generate", "example.org"], ""));
    // One zone line per key: name, then the quoted pieces of the record.
    let mut records = std::collections::HashMap::new();
    for line in printed.lines().filter(|l| l.contains("IN TXT")) {
        let name = line
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches('.');
        let value: String = line
            .split('"')
            .skip(1)
            .step_by(2)
            .collect::<Vec<_>>()
            .concat();
        records.insert(name.to_string(), value);
    }
    assert_eq!(records.len(), 2, "{printed}");
    assert!(records["tern-ed25519._domainkey.example.org"].starts_with("v=DKIM1; k=ed25519; p="));
    assert!(records["tern-rsa._domainkey.example.org"].starts_with("v=DKIM1; k=rsa; p="));
    let err = fails(&tern(cfg, &["dkim", "generate", "example.org"], ""));
    assert!(err.contains("choose another"), "{err}");
    let err = fails(&tern(
        cfg,
        &[
            "dkim",
            "generate",
            "example.org",
            "--selector",
            "tern-rsa",
            "--algorithm",
            "ed25519",
        ],
        "",
    ));
    assert!(err.contains("has a key already"), "{err}");

    let data_dir = dir.path().join("data");
    let key_dir = tern_queue::dkim::key_dir(&data_dir, "example.org");
    for entry in std::fs::read_dir(&key_dir).unwrap() {
        let mode = entry.unwrap().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let keys = tern_queue::dkim::load_keys(&key_dir).unwrap();
    assert_eq!(keys.len(), 2);
    let message =
        b"From: Alice <alice@example.org>\r\nTo: bob@remote.example\r\nSubject: signed\r\n\
                    Date: Mon, 30 Nov 2026 12:00:00 +0000\r\nMessage-ID: <s1@example.org>\r\n\r\n\
                    Hello Bob.\r\n";
    let signatures = tern_queue::dkim::sign(message, "example.org", &keys).unwrap();
    assert_eq!(signatures.len(), 2);
    for (signature, record) in signatures.iter().zip([
        &records["tern-ed25519._domainkey.example.org"],
        &records["tern-rsa._domainkey.example.org"],
    ]) {
        let mut signed = signature.clone().into_bytes();
        signed.extend_from_slice(message);
        let script = format!(
            "import dkim, sys\n\
             record = {record:?}.encode()\n\
             ok = dkim.verify(sys.stdin.buffer.read(), dnsfunc=lambda name, timeout=5: record)\n\
             sys.exit(0 if ok else 1)"
        );
        // Debian's Python, where python3-dkim is installed (scripts/test installs it).
        let mut python = Command::new("/usr/bin/python3")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .spawn()
            .expect("/usr/bin/python3 with dkim (apt-get install python3-dkim)");
        use std::io::Write;
        python.stdin.take().unwrap().write_all(&signed).unwrap();
        assert!(
            python.wait().unwrap().success(),
            "dkimpy rejected\n{}",
            String::from_utf8_lossy(&signed)
        );
    }
}
