use std::time::Duration;

use tern_store::{NewMessage, StoreError, TextField};
use tern_store_sqlite::GcReport;
use tern_store_sqlite::{SqliteOptions, SqliteStore};
use tern_types::{Domain, Flags, ModSeq, Uid};

use crate::{append, caught_up, open, with_alice};

fn blob_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("blobs")).unwrap().flatten() {
        if entry.file_name() == "tmp" {
            continue;
        }
        for f in std::fs::read_dir(entry.path()).unwrap().flatten() {
            out.push(f.path());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_blobs_stay_in_the_database_and_large_ones_become_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100);
    let stores = store.stores();
    let small = stores.blobs.stage(vec![b'a'; 100]).await.unwrap();
    assert!(small.inline.is_some());
    let large = stores.blobs.stage(vec![b'b'; 101]).await.unwrap();
    assert!(large.inline.is_none());
    let files = blob_files(dir.path());
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with(large.hash.to_hex()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_blobs_and_temp_files_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let (stores, inbox) = with_alice(&store).await;
    let kept = stores.blobs.stage(b"kept".to_vec()).await.unwrap();
    stores
        .mailboxes
        .append(
            inbox.id,
            NewMessage {
                blob: kept.clone(),
                prefix: vec![],
                flags: Flags::new(),
                internal_date: 0,
            },
        )
        .await
        .unwrap();
    // Staged but never committed: what a crash between blob write and commit leaves.
    let orphan = stores.blobs.stage(b"orphan".to_vec()).await.unwrap();
    std::fs::write(
        dir.path().join("blobs/tmp/0123456789abcdef"),
        b"half written",
    )
    .unwrap();
    assert_eq!(blob_files(dir.path()).len(), 2);

    // Within the grace period nothing is touched: a delivery may be about to commit.
    let report = store
        .collect_garbage(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report, GcReport::default());

    let report = store.collect_garbage(Duration::ZERO).await.unwrap();
    assert_eq!(report.files_removed, 1);
    assert_eq!(report.temp_files_removed, 1);
    let files = blob_files(dir.path());
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with(kept.hash.to_hex()));
    assert!(!blob_files(dir.path())
        .iter()
        .any(|f| f.ends_with(orphan.hash.to_hex())));
    assert_eq!(stores.blobs.count().await.unwrap(), 1);
    assert_eq!(
        stores
            .mailboxes
            .read_message(inbox.id, Uid(1))
            .await
            .unwrap(),
        b"kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_all_land_with_distinct_uids() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1024);
    let (stores, inbox) = with_alice(&store).await;
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let stores = stores.clone();
        tasks.push(tokio::spawn(async move {
            let blob = stores
                .blobs
                .stage(format!("message {i}").into_bytes())
                .await
                .unwrap();
            let m = NewMessage {
                blob,
                prefix: vec![],
                flags: Flags::new(),
                internal_date: 0,
            };
            stores.mailboxes.append(inbox.id, m).await.unwrap().uid
        }));
    }
    let mut uids = Vec::new();
    for t in tasks {
        uids.push(t.await.unwrap());
    }
    uids.sort();
    assert_eq!(uids, (1..=200).map(Uid).collect::<Vec<_>>());
    let info = stores
        .mailboxes
        .mailbox(inbox.account, "INBOX")
        .await
        .unwrap();
    assert_eq!(info.messages, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_operation_does_not_spoil_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1024);
    let stores = store.stores();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let stores = stores.clone();
        // Every name twice: one of each pair fails with AlreadyExists, the other lands.
        tasks.push(tokio::spawn(async move {
            stores
                .directory
                .add_domain(&Domain::parse(&format!("d{}.org", i / 2)).unwrap())
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 25);
    assert_eq!(stores.directory.list_domains().await.unwrap().len(), 25);
}

/// The structure and the search text of a message's content go when its blob goes (expunge
/// of the last message that holds it), in the same commit; the indexer takes the text into
/// `text.db` and then forgets it there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_rows_go_with_their_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1024);
    let (stores, inbox) = with_alice(&store).await;
    let mut uids = Vec::new();
    for body in [&b"Subject: one\r\n\r\nsmall\r\n"[..], &vec![b'x'; 5000][..]] {
        uids.push(append(&stores, inbox.id, body).await);
    }
    let count = |file: &str, table: &str| -> i64 {
        let conn = rusqlite::Connection::open(dir.path().join(file)).unwrap();
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("tern.db", "blobs WHERE meta IS NOT NULL"), 2);
    caught_up(&store).await;
    assert_eq!(count("text.db", "short_text"), 2);
    assert_eq!(count("text.db", "long_text"), 2);
    stores.mailboxes.expunge(inbox.id, &uids).await.unwrap();
    assert_eq!(count("tern.db", "blobs"), 0);
    caught_up(&store).await;
    assert_eq!(count("text.db", "short_text"), 0);
    assert_eq!(count("text.db", "long_text"), 0);
}

/// A full-text index made before the short fields got a table of their own (one
/// `message_text` table) is dropped when the store opens, and rebuilt from the start: what
/// was searchable stays so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_former_single_table_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), 1024);
        let (stores, inbox) = with_alice(&store).await;
        append(&stores, inbox.id, b"Subject: zanzibar\r\n\r\nquokka\r\n").await;
        caught_up(&store).await;
    }
    {
        let conn = rusqlite::Connection::open(dir.path().join("text.db")).unwrap();
        conn.execute_batch(
            "DROP TABLE short_text; DROP TABLE long_text;
             CREATE VIRTUAL TABLE message_text USING fts5(subject, addr_from, addr_to, addr_cc,
                 addr_bcc, headers, body, tokenize = 'trigram case_sensitive 1', detail = none);",
        )
        .unwrap();
    }
    let store = open(dir.path(), 1024);
    caught_up(&store).await;
    let conn = rusqlite::Connection::open(dir.path().join("text.db")).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'message_text'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
    let stores = store.stores();
    let inbox = stores
        .mailboxes
        .mailbox(tern_types::AccountId(1), "INBOX")
        .await
        .unwrap();
    for (field, term) in [
        (TextField::Subject, "zanzibar"),
        (TextField::Body, "quokka"),
    ] {
        let found = stores
            .mailboxes
            .search_text(inbox.id, field, term)
            .await
            .unwrap();
        assert_eq!(found, [Uid(1)], "{field:?} {term}");
    }
    let indexed: i64 = conn
        .query_row("SELECT count(*) FROM short_text", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        indexed, 1,
        "indexed again, not only found by the search's own scan"
    );
}

/// A store from before the message layer (no content rows) gets them from
/// `analyse_unanalysed`, and its messages become searchable; a second run has nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stored_before_the_message_layer_are_analysed_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1024);
    let (stores, inbox) = with_alice(&store).await;
    let bodies: Vec<Vec<u8>> = (0..150)
        .map(|i| {
            format!(
                "Subject: old message {i}\r\n\r\nbody {}\r\n",
                "z".repeat(i * 20)
            )
            .into_bytes()
        })
        .collect();
    for body in &bodies {
        append(&stores, inbox.id, body).await;
    }
    {
        let conn = rusqlite::Connection::open(dir.path().join("tern.db")).unwrap();
        conn.execute_batch("UPDATE blobs SET meta = NULL;").unwrap();
    }
    assert_eq!(
        stores
            .mailboxes
            .message_meta(inbox.id, Uid(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.analyse_unanalysed().await.unwrap(), 150);
    for (i, body) in bodies.iter().enumerate() {
        let meta = stores
            .mailboxes
            .message_meta(inbox.id, Uid(i as u32 + 1))
            .await
            .unwrap()
            .expect("analysed");
        assert_eq!(
            meta,
            tern_message::mime::analyse(body, &Default::default()).meta
        );
    }
    let found = stores
        .mailboxes
        .search_text(inbox.id, tern_store::TextField::Subject, "old message 14")
        .await
        .unwrap();
    assert_eq!(found.len(), 11, "{found:?}");
    assert_eq!(store.analyse_unanalysed().await.unwrap(), 0);
}

/// Search answers the same before the indexer has taken a message in (scan of the pending
/// text) and after (the index); a dropped blob's id given to a new blob never makes the old
/// text match the new message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_is_exact_before_and_after_indexing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1024);
    let (stores, inbox) = with_alice(&store).await;
    let search = |term: &'static str| {
        let stores = stores.clone();
        async move {
            stores
                .mailboxes
                .search_text(inbox.id, tern_store::TextField::Body, term)
                .await
                .unwrap()
        }
    };
    let one = append(&stores, inbox.id, b"Subject: a\r\n\r\nthe walrus sings\r\n").await;
    let two = append(&stores, inbox.id, b"Subject: b\r\n\r\nthe Walrus naps\r\n").await;
    for round in ["pending", "indexed"] {
        assert_eq!(search("walrus").await, vec![one, two], "{round}");
        assert_eq!(search("sings").await, vec![one], "{round}");
        assert_eq!(search("ap").await, vec![two], "{round}");
        caught_up(&store).await;
    }
    // The last blob row goes, and the next blob gets its id back: before the indexer has
    // seen the drop, and after.
    stores.mailboxes.expunge(inbox.id, &[two]).await.unwrap();
    let three = append(
        &stores,
        inbox.id,
        b"Subject: c\r\n\r\nthe penguin waddles\r\n",
    )
    .await;
    for round in ["pending", "indexed"] {
        assert_eq!(search("naps").await, Vec::<Uid>::new(), "{round}");
        assert_eq!(search("waddles").await, vec![three], "{round}");
        assert_eq!(search("walrus").await, vec![one], "{round}");
        caught_up(&store).await;
    }
    stores.mailboxes.expunge(inbox.id, &[three]).await.unwrap();
    caught_up(&store).await;
    let four = append(&stores, inbox.id, b"Subject: d\r\n\r\nthe otter floats\r\n").await;
    for round in ["pending", "indexed"] {
        assert_eq!(search("waddles").await, Vec::<Uid>::new(), "{round}");
        assert_eq!(search("floats").await, vec![four], "{round}");
        caught_up(&store).await;
    }
    // A lower blob dropped and indexed away, then the top one: the next blob must still be
    // found (blob ids never repeat, so it is above the watermark).
    let five = append(&stores, inbox.id, b"Subject: e\r\n\r\nthe heron waits\r\n").await;
    caught_up(&store).await;
    stores.mailboxes.expunge(inbox.id, &[four]).await.unwrap();
    caught_up(&store).await;
    stores.mailboxes.expunge(inbox.id, &[five]).await.unwrap();
    let six = append(&stores, inbox.id, b"Subject: f\r\n\r\nthe crane dances\r\n").await;
    for round in ["pending", "indexed"] {
        assert_eq!(search("dances").await, vec![six], "{round}");
        assert_eq!(search("floats").await, Vec::<Uid>::new(), "{round}");
        assert_eq!(search("waits").await, Vec::<Uid>::new(), "{round}");
        caught_up(&store).await;
    }
}

/// A store whose expunge log keeps three entries per mailbox (`expunge_log_kept`).
fn keeping_three_expunges(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(
        dir,
        SqliteOptions {
            expunge_log_kept: 3,
            ..SqliteOptions::default()
        },
    )
    .unwrap()
}

/// RFC 7162 QRESYNC reads the expunge log; `expunge_log_kept` bounds it per mailbox. Once it
/// is past the bound by a sixteenth (at least one entry) the oldest entries go, down to the
/// bound, and the floor says since when the log is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expunge_log_keeps_the_newest_entries_above_a_floor() {
    let dir = tempfile::tempdir().unwrap();
    let store = keeping_three_expunges(dir.path());
    let (stores, inbox) = with_alice(&store).await;
    let mut uids = Vec::new();
    for i in 0..6 {
        uids.push(append(&stores, inbox.id, format!("m{i}").as_bytes()).await);
    }
    let start = stores
        .mailboxes
        .changes_since(inbox.id, ModSeq(0))
        .await
        .unwrap();
    assert_eq!(start.log_floor, ModSeq(0));
    // One expunge per message: each gets its own MODSEQ.
    let mut modseqs = Vec::new();
    for uid in &uids[..5] {
        stores.mailboxes.expunge(inbox.id, &[*uid]).await.unwrap();
        let info = stores
            .mailboxes
            .changes_since(inbox.id, ModSeq(0))
            .await
            .unwrap();
        modseqs.push(info.highest_modseq);
    }
    let all = stores
        .mailboxes
        .changes_since(inbox.id, ModSeq(0))
        .await
        .unwrap();
    assert_eq!(
        all.expunged,
        uids[2..5],
        "the fifth entry is past 3 + 1: trimmed to the newest three"
    );
    assert_eq!(
        all.log_floor, modseqs[1],
        "the floor is the newest forgotten expunge"
    );
    let recent = stores
        .mailboxes
        .changes_since(inbox.id, modseqs[2])
        .await
        .unwrap();
    assert_eq!(recent.expunged, uids[3..5]);
    // MOVE expunges from its source too, and trims the same way.
    let other = stores
        .mailboxes
        .create_mailbox(inbox.account, "Other", None)
        .await
        .unwrap();
    stores
        .mailboxes
        .move_messages(inbox.id, &[uids[5]], other.id)
        .await
        .unwrap();
    let after_move = stores
        .mailboxes
        .changes_since(inbox.id, ModSeq(0))
        .await
        .unwrap();
    assert_eq!(
        after_move.expunged,
        uids[2..6],
        "four entries: within 3 + 1"
    );
    assert_eq!(after_move.log_floor, modseqs[1]);
    // One more: five again, past the bound, back to the newest three.
    let last = append(&stores, inbox.id, b"m6").await;
    stores.mailboxes.expunge(inbox.id, &[last]).await.unwrap();
    let trimmed = stores
        .mailboxes
        .changes_since(inbox.id, ModSeq(0))
        .await
        .unwrap();
    assert_eq!(trimmed.expunged, [uids[4], uids[5], last]);
    assert!(trimmed.log_floor > modseqs[2]);
}

/// Schema version 7 on a store made before it: subscriptions move from the mailbox rows to
/// their own table as they were, and messages already stored are not \Recent to anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_recent_survive_the_upgrade_to_version_7() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), 1024);
        let (stores, inbox) = with_alice(&store).await;
        append(&stores, inbox.id, b"Subject: old\r\n\r\nold\r\n").await;
    }
    {
        // Back to version 6: subscriptions on the mailbox rows, Trash unsubscribed.
        let conn = rusqlite::Connection::open(dir.path().join("tern.db")).unwrap();
        conn.execute_batch(
            "ALTER TABLE mailboxes ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 1;
             UPDATE mailboxes SET subscribed = 0 WHERE name = 'Trash';
             ALTER TABLE mailboxes DROP COLUMN recent_uid;
             ALTER TABLE mailboxes DROP COLUMN expunge_log_len;
             DROP TABLE subscriptions;
             PRAGMA user_version = 6;",
        )
        .unwrap();
    }
    let store = open(dir.path(), 1024);
    let (stores, alice) = (store.stores(), tern_types::AccountId(1));
    let subscribed = stores.mailboxes.subscriptions(alice).await.unwrap();
    assert!(subscribed.contains(&"INBOX".to_string()), "{subscribed:?}");
    assert!(!subscribed.contains(&"Trash".to_string()), "{subscribed:?}");
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    assert_eq!(inbox.recent_uid, inbox.uid_next);
    assert!(stores
        .mailboxes
        .claim_recent(inbox.id)
        .await
        .unwrap()
        .is_empty());
}

/// Schema version 8 counts each mailbox's expunge log once, from the entries it has: the
/// trimming that follows goes by that count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expunge_log_is_counted_on_the_upgrade_to_version_8() {
    let dir = tempfile::tempdir().unwrap();
    let keep_three = || keeping_three_expunges(dir.path());
    let mut uids = Vec::new();
    {
        let store = keep_three();
        let (stores, inbox) = with_alice(&store).await;
        for i in 0..5 {
            uids.push(append(&stores, inbox.id, format!("m{i}").as_bytes()).await);
        }
        for uid in &uids[..2] {
            stores.mailboxes.expunge(inbox.id, &[*uid]).await.unwrap();
        }
    }
    {
        let conn = rusqlite::Connection::open(dir.path().join("tern.db")).unwrap();
        conn.execute_batch(
            "ALTER TABLE mailboxes DROP COLUMN expunge_log_len;
             PRAGMA user_version = 7;",
        )
        .unwrap();
    }
    let store = keep_three();
    let stores = store.stores();
    let inbox = stores
        .mailboxes
        .mailbox(tern_types::AccountId(1), "INBOX")
        .await
        .unwrap();
    for uid in &uids[2..] {
        stores.mailboxes.expunge(inbox.id, &[*uid]).await.unwrap();
    }
    let log = stores
        .mailboxes
        .changes_since(inbox.id, ModSeq(0))
        .await
        .unwrap();
    assert_eq!(
        log.expunged,
        uids[2..],
        "two counted by the upgrade and three since: past 3 + 1, trimmed to three"
    );
}

/// A store whose schema is newer than this binary's (a newer tern upgraded it) is refused,
/// not written by code that does not keep what the newer schema keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), 1024));
    {
        let conn = rusqlite::Connection::open(dir.path().join("tern.db")).unwrap();
        conn.execute_batch("PRAGMA user_version = 999;").unwrap();
    }
    let Err(refused) = SqliteStore::open(dir.path(), SqliteOptions::default()) else {
        panic!("a store of schema version 999 opened");
    };
    assert!(
        refused.to_string().contains("newer than this tern knows"),
        "{refused}"
    );
}

/// The indexer waits for a quiet store, but not for ever: under writes that never pause (here
/// an append every few milliseconds, for longer than the indexer's longest wait) it still
/// takes messages in while they keep coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexing_goes_on_under_writes_that_never_pause() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1024);
    let (stores, inbox) = with_alice(&store).await;
    let started = std::time::Instant::now();
    let mut appended = 0u64;
    let mut indexed_meanwhile = false;
    while started.elapsed() < Duration::from_secs(3) {
        append(
            &stores,
            inbox.id,
            format!("Subject: m{appended}\r\n\r\nbody\r\n").as_bytes(),
        )
        .await;
        appended += 1;
        indexed_meanwhile |= store.index_backlog().await.unwrap() < appended;
    }
    assert!(
        indexed_meanwhile,
        "nothing indexed while {appended} messages came without a pause"
    );
}
