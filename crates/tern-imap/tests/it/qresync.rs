//! RFC 7162 QRESYNC: ENABLE, SELECT with what the client knew, VANISHED (EARLIER) and the
//! changed flags, UID FETCH with VANISHED, VANISHED instead of EXPUNGE, [CLOSED], and the
//! superset answer below the expunge log's floor.

use tern_testkit::{TestServer, TEST_PASSWORD};

use crate::raw::{last, Client};

fn login() -> String {
    format!("LOGIN alice@example.test \"{TEST_PASSWORD}\"")
}

/// The number after `key` in the first line that has it (`UIDVALIDITY 7`, `HIGHESTMODSEQ 9`).
fn number_after(lines: &[String], key: &str) -> u64 {
    lines
        .iter()
        .find_map(|l| {
            let rest = &l[l.find(key)? + key.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

fn has(lines: &[String], wanted: &str) -> bool {
    lines.iter().any(|l| l.trim_end() == wanted)
}

/// Six messages for alice; a QRESYNC session that saw them; then another session flags UID 2
/// and expunges UID 3.
async fn changed_after_a_first_look(server: &TestServer) -> (u64, u64, Client) {
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = (1..=6)
        .map(|i| format!("Subject: m{i}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    crate::deliver_to_alice(server, &messages).await;
    let mut watcher = Client::connect(server).await;
    watcher.run("w1", &login()).await;
    assert_eq!(
        watcher.run("w2", "ENABLE QRESYNC").await[0],
        "* ENABLED QRESYNC\r\n"
    );
    let select = watcher.run("w3", "SELECT INBOX").await;
    let uid_validity = number_after(&select, "[UIDVALIDITY ");
    let seen = number_after(&select, "[HIGHESTMODSEQ ");

    let mut other = Client::connect(server).await;
    other.run("o1", &login()).await;
    other.run("o2", "SELECT INBOX").await;
    other.run("o3", "UID STORE 2 +FLAGS (\\Flagged)").await;
    other.run("o4", "UID STORE 3 +FLAGS (\\Deleted)").await;
    let expunge = other.run("o5", "EXPUNGE").await;
    assert!(
        has(&expunge, "* 3 EXPUNGE"),
        "no QRESYNC, EXPUNGE: {expunge:?}"
    );
    (uid_validity, seen, watcher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resyncs_from_what_it_knew() {
    let server = TestServer::start().await;
    let (uid_validity, seen, mut watcher) = changed_after_a_first_look(&server).await;

    // The session that has QRESYNC on is told VANISHED, never EXPUNGE (RFC 7162 §3.2.10).
    let noop = watcher.run("w4", "NOOP").await;
    assert!(has(&noop, "* VANISHED 3"), "{noop:?}");
    assert!(!noop.iter().any(|l| l.contains("EXPUNGE")), "{noop:?}");

    // A new session resynchronises from the MODSEQ it knew (§3.2.5.1).
    let mut c = Client::connect(&server).await;
    c.run("a1", &login()).await;
    c.run("a2", "ENABLE QRESYNC").await;
    let select = c
        .run(
            "a3",
            &format!("SELECT INBOX (QRESYNC ({uid_validity} {seen}))"),
        )
        .await;
    assert!(
        last(&select).starts_with("a3 OK [READ-WRITE]"),
        "{select:?}"
    );
    assert!(has(&select, "* VANISHED (EARLIER) 3"), "{select:?}");
    let flagged = select
        .iter()
        .find(|l| l.starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("))
        .unwrap_or_else(|| panic!("the flag change is told: {select:?}"));
    assert!(number_after(std::slice::from_ref(flagged), "MODSEQ (") > seen);
    assert!(
        !select.iter().any(|l| l.starts_with("* 1 FETCH")),
        "unchanged messages are not: {select:?}"
    );
    // A second SELECT closes the first mailbox first (§3.2.11).
    let reselect = c
        .run(
            "a4",
            &format!("EXAMINE INBOX (QRESYNC ({uid_validity} {seen} 1:2))"),
        )
        .await;
    assert_eq!(reselect[0], "* OK [CLOSED] Previous mailbox closed\r\n");
    assert!(
        !reselect.iter().any(|l| l.contains("VANISHED")),
        "UID 3 is not among the known UIDs: {reselect:?}"
    );
    assert!(reselect.iter().any(|l| l.starts_with("* 2 FETCH (UID 2 ")));
    // Another UIDVALIDITY: the client's cache is worthless, nothing is resynchronised.
    let stale = c
        .run(
            "a5",
            &format!("SELECT INBOX (QRESYNC ({} {seen}))", uid_validity + 1),
        )
        .await;
    assert!(!stale
        .iter()
        .any(|l| l.contains("VANISHED") || l.contains("FETCH")));

    // UID FETCH with VANISHED (§3.2.6): what vanished in the set, then what changed.
    let fetch = c
        .run(
            "a6",
            &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {seen} VANISHED)"),
        )
        .await;
    assert_eq!(fetch[0], "* VANISHED (EARLIER) 3\r\n", "{fetch:?}");
    assert!(fetch[1].starts_with("* 2 FETCH ("), "{fetch:?}");
    assert!(last(&fetch).starts_with("a6 OK"));
    let outside = c
        .run(
            "a7",
            &format!("UID FETCH 4:* (FLAGS) (CHANGEDSINCE {seen} VANISHED)"),
        )
        .await;
    assert!(
        !outside.iter().any(|l| l.contains("VANISHED")),
        "{outside:?}"
    );

    // Without ENABLE QRESYNC both forms are refused (§3.2.5, §3.2.6).
    let mut plain = Client::connect(&server).await;
    plain.run("p1", &login()).await;
    let refused = plain
        .run(
            "p2",
            &format!("SELECT INBOX (QRESYNC ({uid_validity} {seen}))"),
        )
        .await;
    assert!(last(&refused).starts_with("p2 BAD"), "{refused:?}");
    plain.run("p3", "SELECT INBOX").await;
    let refused = plain
        .run("p4", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        .await;
    assert!(last(&refused).starts_with("p4 BAD"), "{refused:?}");
    c.run("a8", "ENABLE QRESYNC").await;
    let not_uid = c
        .run("a9", "FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        .await;
    assert!(last(&not_uid).starts_with("a9 BAD"), "{not_uid:?}");
}

/// `store.expunge_log_max`: past it the oldest expunges are forgotten, and a client that
/// knew the mailbox before them is told of every UID that is not there (a superset, RFC 7162
/// §3.2.5.1), never of fewer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_log_floor_every_missing_uid_is_told() {
    let server = TestServer::start_with("[store]\nexpunge_log_max = 1\n").await;
    let (uid_validity, seen, mut watcher) = changed_after_a_first_look(&server).await;
    // Two more expunges (UIDs 5, then 6): the log keeps only the last.
    for (tag, uid) in [("w5", 5), ("w7", 6)] {
        watcher
            .run(tag, &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
            .await;
        watcher
            .run(&format!("{tag}x"), &format!("UID EXPUNGE {uid}"))
            .await;
    }
    let mut c = Client::connect(&server).await;
    c.run("a1", &login()).await;
    c.run("a2", "ENABLE QRESYNC").await;
    let select = c
        .run(
            "a3",
            &format!("SELECT INBOX (QRESYNC ({uid_validity} {seen}))"),
        )
        .await;
    assert!(has(&select, "* VANISHED (EARLIER) 3,5:6"), "{select:?}");
    let fetch = c
        .run(
            "a4",
            &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {seen} VANISHED)"),
        )
        .await;
    assert_eq!(fetch[0], "* VANISHED (EARLIER) 3,5:6\r\n", "{fetch:?}");
}

/// A session that has not looked for longer than the expunge log reaches back (it keeps
/// `store.expunge_log_max` entries) is still told of every expunge on its next look, by
/// sequence number, and keeps no message that is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_behind_the_log_floor_learns_every_expunge() {
    let server = TestServer::start_with("[store]\nexpunge_log_max = 1\n").await;
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = (1..=6)
        .map(|i| format!("Subject: m{i}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    crate::deliver_to_alice(&server, &messages).await;
    let mut behind = Client::connect(&server).await;
    behind.run("b1", &login()).await;
    behind.run("b2", "SELECT INBOX").await;
    let mut other = Client::connect(&server).await;
    other.run("o1", &login()).await;
    other.run("o2", "SELECT INBOX").await;
    // One at a time, so the log is trimmed past what `behind` knew.
    for uid in [2, 3, 5, 6] {
        other
            .run(
                &format!("s{uid}"),
                &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
            )
            .await;
        other
            .run(&format!("e{uid}"), &format!("UID EXPUNGE {uid}"))
            .await;
    }
    let noop = behind.run("b3", "NOOP").await;
    let expunges: Vec<&str> = noop
        .iter()
        .filter(|l| l.ends_with("EXPUNGE\r\n"))
        .map(String::as_str)
        .collect();
    // UIDs 2, 3, 5, 6 are sequence numbers 2, 3, 5, 6; each EXPUNGE renumbers what follows.
    assert_eq!(
        expunges,
        [
            "* 2 EXPUNGE\r\n",
            "* 2 EXPUNGE\r\n",
            "* 3 EXPUNGE\r\n",
            "* 3 EXPUNGE\r\n"
        ],
        "{noop:?}"
    );
    let left = behind.run("b4", "UID SEARCH ALL").await;
    assert_eq!(left[0], "* SEARCH 1 4\r\n", "{left:?}");
}
