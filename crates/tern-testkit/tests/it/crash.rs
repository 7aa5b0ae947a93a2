//! A child process appends with many concurrent writers and prints each append the store
//! acknowledged; it is killed with SIGKILL at a random moment, several rounds. After each
//! kill: every acknowledged message is present and byte-identical, no metadata points at a
//! missing blob, and after the start-up collection no orphaned blob file is left.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::Rng;
use sha2::{Digest, Sha256};
use tern_store_sqlite::{SqliteOptions, SqliteStore, DEFAULT_INLINE_BLOB_MAX};
use tern_types::Uid;

const ROUNDS: usize = 6;

/// Runs the worker until a random moment, kills it, and returns the acknowledged appends.
fn run_and_kill(dir: &Path, rng: &mut impl Rng) -> Vec<(u32, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tern-store-load"))
        .args(["worker", "--writers", "16", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start worker");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    // The random moment is counted from "ready": a slow start (a loaded machine) must not
    // turn into a kill before the worker has begun.
    let mut first = String::new();
    stdout
        .read_line(&mut first)
        .expect("read the worker's first line");
    let reader = std::thread::spawn(move || {
        let mut lines = vec![first.trim_end().to_string()];
        for line in stdout.lines() {
            match line {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
        lines
    });
    std::thread::sleep(Duration::from_millis(rng.gen_range(300..1500)));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let lines = reader.join().expect("reader");
    assert_eq!(
        lines.first().map(String::as_str),
        Some("ready"),
        "worker did not start: {lines:?}"
    );
    lines
        .iter()
        .skip(1)
        .filter_map(|l| {
            let mut parts = l.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("ack"), Some(uid), Some(hash)) if hash.len() == 64 => {
                    Some((uid.parse().ok()?, hash.to_string()))
                }
                // A line cut by the kill: the append was durable, but we cannot read which.
                _ => None,
            }
        })
        .collect()
}

fn blob_files(dir: &Path) -> HashSet<String> {
    let mut names = HashSet::new();
    for entry in std::fs::read_dir(dir.join("blobs")).unwrap().flatten() {
        if entry.file_name() == "tmp" {
            continue;
        }
        for f in std::fs::read_dir(entry.path()).unwrap().flatten() {
            names.insert(f.file_name().to_string_lossy().into_owned());
        }
    }
    names
}

/// Returns the number of stored messages and the highest UID ever assigned.
async fn verify(dir: &Path, acked: &BTreeMap<u32, String>) -> (usize, u32) {
    let store = SqliteStore::open(
        dir,
        SqliteOptions {
            inline_blob_max: DEFAULT_INLINE_BLOB_MAX,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    // What `tern serve` does at start.
    store.collect_garbage(Duration::ZERO).await.unwrap();
    let stores = store.stores();
    let inbox = tern_testkit::inbox_of(&stores, "alice@example.test").await;
    for (uid, digest) in acked {
        let body = stores
            .mailboxes
            .read_message(inbox.id, Uid(*uid))
            .await
            .unwrap_or_else(|e| panic!("acknowledged UID {uid} lost: {e}"));
        assert_eq!(
            &hex::encode(Sha256::digest(&body)),
            digest,
            "UID {uid} corrupted"
        );
    }
    // Every message, acknowledged or not, is whole: its blob is there.
    let all = stores.mailboxes.messages(inbox.id, Uid(1)).await.unwrap();
    let mut referenced = HashSet::new();
    for record in &all {
        let body = stores
            .mailboxes
            .read_message(inbox.id, record.uid)
            .await
            .unwrap();
        assert_eq!(
            body.len() as u64,
            record.size,
            "UID {} has the wrong size",
            record.uid
        );
    }
    // The blob files the messages name (read from the database itself: listings do not
    // carry the content's hash).
    let db = rusqlite::Connection::open(dir.join("tern.db")).unwrap();
    let mut hashes = db
        .prepare("SELECT b.hash FROM messages m JOIN blobs b ON b.id = m.blob_id")
        .unwrap();
    for hash in hashes.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
        referenced.insert(hex::encode(hash.unwrap()));
    }
    assert_eq!(
        inbox.messages as usize,
        all.len(),
        "mailbox counter disagrees with its messages"
    );
    // No orphan blob file survives the start-up collection, and no temporary file either.
    let orphans: Vec<String> = blob_files(dir).difference(&referenced).cloned().collect();
    assert!(orphans.is_empty(), "orphaned blob files: {orphans:?}");
    assert_eq!(std::fs::read_dir(dir.join("blobs/tmp")).unwrap().count(), 0);
    (all.len(), inbox.uid_next.0 - 1)
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rng = rand::thread_rng();
    let mut acked = BTreeMap::new();
    let mut highest_before = 0;
    for round in 0..ROUNDS {
        let new = run_and_kill(dir.path(), &mut rng);
        assert!(!new.is_empty(), "round {round}: nothing was acknowledged");
        for (uid, digest) in new {
            // UIDs only go up, across restarts too.
            assert!(
                uid > highest_before,
                "round {round}: UID {uid} reused (had {highest_before})"
            );
            assert!(
                acked.insert(uid, digest).is_none(),
                "UID {uid} acknowledged twice"
            );
        }
        let (present, highest) = runtime.block_on(verify(dir.path(), &acked));
        assert!(present >= acked.len());
        highest_before = highest;
        eprintln!(
            "round {round}: {} acknowledged so far, {present} stored",
            acked.len()
        );
    }
}
