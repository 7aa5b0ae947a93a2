//! Behaviour Dovecot's imaptest checks and Tern once got wrong (see the issue-8 notes): each
//! test names the RFC rule it holds the server to.

use tern_testkit::{TestServer, TEST_PASSWORD};

use crate::raw::{last, Client};

async fn alice_with(server: &TestServer, messages: usize) -> Client {
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = (1..=messages)
        .map(|i| format!("Subject: m{i}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    if !messages.is_empty() {
        crate::deliver_to_alice(server, &messages).await;
    }
    logged_in(server).await
}

async fn logged_in(server: &TestServer) -> Client {
    let mut c = Client::connect(server).await;
    let login = c
        .run(
            "l1",
            &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
        )
        .await;
    assert!(last(&login).starts_with("l1 OK"), "{login:?}");
    c
}

fn has(lines: &[String], wanted: &str) -> bool {
    lines.iter().any(|l| l.trim_end() == wanted)
}

/// RFC 3501 §6.3.11 / RFC 9051 §6.3.12: APPEND to the selected mailbox announces EXISTS
/// before its OK; so do COPY into it and MOVE within it (RFC 6851 §3.3 allows that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_to_the_selected_mailbox_are_announced_at_once() {
    let server = TestServer::start().await;
    let mut c = alice_with(&server, 1).await;
    c.run("a1", "SELECT INBOX").await;
    c.send("a2 APPEND INBOX {20+}\r\nSubject: a\r\n\r\nsame\r\n\r\n")
        .await;
    let appended = c.until("a2").await;
    assert!(has(&appended, "* 2 EXISTS"), "{appended:?}");
    let copied = c.run("a3", "COPY 1 INBOX").await;
    assert!(has(&copied, "* 3 EXISTS"), "{copied:?}");
    let moved = c.run("a4", "UID MOVE 1 INBOX").await;
    assert!(last(&moved).starts_with("a4 OK"), "{moved:?}");
    assert!(
        has(&moved, "* 1 EXPUNGE") && has(&moved, "* 3 EXISTS"),
        "{moved:?}"
    );
    let uids = c.run("a5", "UID SEARCH ALL").await;
    assert_eq!(uids[0], "* SEARCH 2 3 4\r\n");
}

/// RFC 3501 §6.4.3: EXPUNGE also reports what other sessions expunged meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunge_reports_other_sessions_expunges() {
    let server = TestServer::start().await;
    let mut one = alice_with(&server, 3).await;
    let mut two = logged_in(&server).await;
    one.run("a1", "SELECT INBOX").await;
    two.run("b1", "SELECT INBOX").await;
    one.run("a2", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert!(has(&one.run("a3", "EXPUNGE").await, "* 1 EXPUNGE"));
    let expunge = two.run("b2", "EXPUNGE").await;
    assert!(has(&expunge, "* 1 EXPUNGE"), "{expunge:?}");
    assert_eq!(two.run("b3", "SEARCH ALL").await[0], "* SEARCH 1 2\r\n");
}

/// RFC 3501 §6.4.5: a FETCH that sets \Seen says so; §7.2.6: FLAGS names the keywords in
/// use, again when a new one appears; §6.3.1: SELECT gives the first unseen message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_keywords_and_unseen() {
    let server = TestServer::start().await;
    let mut c = alice_with(&server, 3).await;
    c.run("a1", "SELECT INBOX").await;
    let fetched = c.run("a2", "FETCH 1 (BODY[TEXT])").await;
    assert!(
        fetched.iter().any(|l| l.contains("FLAGS (\\Seen)")),
        "{fetched:?}"
    );
    let again = c.run("a3", "FETCH 1 (BODY[TEXT])").await;
    assert!(
        !again.iter().any(|l| l.contains("FLAGS")),
        "already seen: {again:?}"
    );
    let stored = c.run("a4", "STORE 2 +FLAGS ($Work)").await;
    assert!(
        has(
            &stored,
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)"
        ),
        "{stored:?}"
    );
    assert!(stored
        .iter()
        .any(|l| l.starts_with("* OK [PERMANENTFLAGS (") && l.contains("$Work \\*)")));
    let select = c.run("a5", "EXAMINE INBOX").await;
    assert!(
        has(
            &select,
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)"
        ),
        "{select:?}"
    );
    assert!(has(&select, "* OK [UNSEEN 2] First unseen"), "{select:?}");
}

/// RFC 3501 §6.3.8: a pattern is matched against names, so one that no name can have (not
/// valid modified UTF-7) matches nothing; it is not an error. RFC 2971 §3.3: the longest ID
/// command allowed is accepted before login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_patterns_and_long_id_commands() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let mut c = Client::connect(&server).await;
    let fields: String = (0..30)
        .map(|i| {
            format!(
                " \"field-{i:02}-{}\" \"{}\"",
                "x".repeat(21),
                "v".repeat(1024)
            )
        })
        .collect();
    let id = c.run("i1", &format!("ID ({})", &fields[1..])).await;
    assert!(last(&id).starts_with("i1 OK"), "{:?}", id.last());
    let mut c = logged_in(&server).await;
    let list = c.run("a1", "LIST \"\" \"&-bad&\"").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(last(&list).starts_with("a1 OK"), "{list:?}");
}
