//! IMAP4rev2 (RFC 9051) beside IMAP4rev1, UTF8=ACCEPT (RFC 6855), SEARCHRES (RFC 5182) and
//! MULTIAPPEND (RFC 3502), over raw sockets: each test names the rule it holds the server to.

use tern_testkit::TestServer;

use crate::raw::{last, Client};

async fn alice_with(server: &TestServer, messages: &[&str]) -> Client {
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = messages.iter().map(|m| m.as_bytes().to_vec()).collect();
    if !messages.is_empty() {
        crate::deliver_to_alice(server, &messages).await;
    }
    Client::logged_in(server).await
}

fn has(lines: &[String], wanted: &str) -> bool {
    lines.iter().any(|l| l.trim_end() == wanted)
}

fn ok(lines: &[String], tag: &str) -> bool {
    last(lines).starts_with(&format!("{tag} OK"))
}

/// RFC 9051 §6.3.1: a server offering both versions behaves as IMAP4rev1 until the client
/// enables IMAP4rev2; then SELECT names the mailbox in LIST and sends no RECENT or [UNSEEN]
/// (§6.3.2, Appendix E items 10–12), SEARCH is answered with ESEARCH (§6.4.4), STATUS has
/// DELETED (§6.3.11), and names and strings are UTF-8 (§5.1, §4.3.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_imap4rev2_changes_what_the_server_says() {
    let server = TestServer::start().await;
    let mut rev2 = alice_with(
        &server,
        &["Subject: a\r\n\r\na\r\n", "Subject: b\r\n\r\nb\r\n"],
    )
    .await;
    let caps = rev2.run("c1", "CAPABILITY").await;
    for cap in ["IMAP4rev1", "IMAP4rev2", "UTF8=ACCEPT", "SEARCHRES"] {
        assert!(
            caps[0].split_whitespace().any(|c| c == cap),
            "{cap}: {caps:?}"
        );
    }
    let mut rev1 = Client::logged_in(&server).await;
    let enabled = rev2.run("c2", "ENABLE IMAP4rev2").await;
    assert!(has(&enabled, "* ENABLED IMAP4rev2"), "{enabled:?}");

    let created = rev2.run("c3", "CREATE \"Ärger/日本\"").await;
    assert!(ok(&created, "c3"), "{created:?}");
    let listed = rev2.run("c4", "LIST \"\" \"Ärger/*\"").await;
    assert!(
        has(&listed, "* LIST (\\HasNoChildren) \"/\" \"Ärger/日本\""),
        "{listed:?}"
    );
    // The same mailbox, to an IMAP4rev1 client: modified UTF-7.
    let utf7 = tern_imap::names::encode_utf7("Ärger/日本");
    let listed = rev1.run("d1", "LIST \"\" *").await;
    assert!(
        has(
            &listed,
            &format!("* LIST (\\HasNoChildren) \"/\" \"{utf7}\"")
        ),
        "{listed:?}"
    );

    let selected = rev2.run("c5", "SELECT INBOX").await;
    assert!(ok(&selected, "c5"), "{selected:?}");
    assert!(
        has(&selected, "* LIST (\\HasNoChildren) \"/\" \"INBOX\""),
        "{selected:?}"
    );
    assert!(
        !selected
            .iter()
            .any(|l| l.contains("RECENT") || l.contains("[UNSEEN")),
        "{selected:?}"
    );
    let rev1_selected = rev1.run("d2", "SELECT INBOX").await;
    assert!(has(&rev1_selected, "* 0 RECENT"), "{rev1_selected:?}");
    assert!(!rev1_selected.iter().any(|l| l.starts_with("* LIST")));

    assert_eq!(
        rev2.run("c6", "SEARCH ALL").await[0],
        "* ESEARCH (TAG \"c6\") ALL 1:2\r\n"
    );
    assert_eq!(
        rev2.run("c7", "UID SEARCH SUBJECT b").await[0],
        "* ESEARCH (TAG \"c7\") UID ALL 2\r\n"
    );
    assert_eq!(
        rev2.run("c8", "SEARCH SUBJECT nothing-matches").await[0],
        "* ESEARCH (TAG \"c8\")\r\n"
    );
    assert_eq!(rev1.run("d3", "SEARCH ALL").await[0], "* SEARCH 1 2\r\n");

    rev2.run("c9", "STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let status = rev1.run("d4", "STATUS INBOX (MESSAGES DELETED)").await;
    assert!(
        has(&status, "* STATUS \"INBOX\" (MESSAGES 2 DELETED 1)"),
        "{status:?}"
    );

    // RFC 9051 §4.3.1 / RFC 6855 §3: a UTF-8 header (RFC 6532) is sent as such once enabled,
    // and encoded (RFC 2047) before.
    let utf8 = "Subject: Grüße\r\n\r\nbody\r\n";
    rev2.send(&format!(
        "c9a APPEND \"Ärger/日本\" {{{}+}}\r\n{utf8}\r\n",
        utf8.len()
    ))
    .await;
    assert!(ok(&rev2.until("c9a").await, "c9a"));
    rev2.run("c9b", "SELECT \"Ärger/日本\"").await;
    rev1.run("d4b", &format!("SELECT \"{utf7}\"")).await;
    let envelope = rev2.run("c10", "FETCH 1 ENVELOPE").await;
    assert!(envelope[0].contains("\"Grüße\""), "{envelope:?}");
    let envelope = rev1.run("d5", "FETCH 1 ENVELOPE").await;
    assert!(!envelope[0].contains("Grüße"), "{envelope:?}");
}

/// RFC 6855 §3: UTF8=ACCEPT alone gives UTF-8 names both ways; SEARCH stays IMAP4rev1's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_accept_alone() {
    let server = TestServer::start().await;
    let mut c = alice_with(&server, &["Subject: a\r\n\r\na\r\n"]).await;
    // Before ENABLE, a name in UTF-8 is not modified UTF-7: refused.
    let refused = c.run("a1", "CREATE \"Café\"").await;
    assert!(last(&refused).starts_with("a1 NO"), "{refused:?}");
    let enabled = c.run("a2", "ENABLE UTF8=ACCEPT").await;
    assert!(has(&enabled, "* ENABLED UTF8=ACCEPT"), "{enabled:?}");
    assert!(ok(&c.run("a3", "CREATE \"Café\"").await, "a3"));
    let status = c.run("a4", "STATUS \"Café\" (MESSAGES)").await;
    assert!(has(&status, "* STATUS \"Café\" (MESSAGES 0)"), "{status:?}");
    c.run("a5", "SELECT INBOX").await;
    assert_eq!(c.run("a6", "SEARCH ALL").await[0], "* SEARCH 1\r\n");
}

/// RFC 5182 (RFC 9051 §6.4.4.1–6.4.4.4): `SEARCH RETURN (SAVE)` keeps its result for `$`,
/// answering nothing but OK when SAVE is alone; `$` stands for those messages in FETCH,
/// STORE, COPY, SEARCH and their UID forms, as UIDs or message numbers by the command;
/// expunged ones drop out, an empty result is a valid set that matches nothing, and SELECT
/// empties it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searchres_saves_and_reuses_a_result() {
    let server = TestServer::start().await;
    let messages: Vec<String> = (1..=5)
        .map(|i| format!("Subject: m{i}\r\n\r\nbody {i}\r\n"))
        .collect();
    let refs: Vec<&str> = messages.iter().map(String::as_str).collect();
    let mut c = alice_with(&server, &refs).await;
    c.run("a0", "CREATE Saved").await;
    c.run("a1", "SELECT INBOX").await;

    let saved = c.run("a2", "SEARCH RETURN (SAVE) 2:4").await;
    assert_eq!(saved.len(), 1, "SAVE alone answers only OK: {saved:?}");
    assert!(ok(&saved, "a2"));
    let fetched = c.run("a3", "FETCH $ (UID)").await;
    assert_eq!(
        fetched[..3],
        [
            "* 2 FETCH (UID 2)\r\n",
            "* 3 FETCH (UID 3)\r\n",
            "* 4 FETCH (UID 4)\r\n"
        ]
    );
    // `$` inside the criteria, as a sequence set and as a UID set.
    assert_eq!(c.run("a4", "SEARCH $ NOT 3").await[0], "* SEARCH 2 4\r\n");
    assert_eq!(
        c.run("a5", "UID SEARCH OR UID $ 5").await[0],
        "* SEARCH 2 3 4 5\r\n"
    );
    // FROM's argument is a string, not the saved result.
    assert_eq!(c.run("a6", "SEARCH FROM $").await[0], "* SEARCH\r\n");

    // Expunged messages leave the result; numbers follow the session's renumbering.
    c.run("a7", "STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    c.run("a8", "EXPUNGE").await;
    let fetched = c.run("a9", "FETCH $ (UID)").await;
    assert_eq!(
        fetched[..2],
        ["* 2 FETCH (UID 3)\r\n", "* 3 FETCH (UID 4)\r\n"]
    );
    let copied = c.run("a10", "UID COPY $ Saved").await;
    assert!(
        last(&copied).contains("[COPYUID ") && last(&copied).contains(" 3:4 "),
        "{copied:?}"
    );

    // MIN and MAX alone keep only those messages; with ALL or COUNT, everything found.
    c.run("a11", "UID SEARCH RETURN (SAVE MIN MAX) ALL").await;
    assert_eq!(c.run("a12", "UID SEARCH $").await[0], "* SEARCH 1 5\r\n");
    let counted = c.run("a13", "SEARCH RETURN (SAVE COUNT) 1:2").await;
    assert_eq!(counted[0], "* ESEARCH (TAG \"a13\") COUNT 2\r\n");
    assert_eq!(c.run("a14", "SEARCH $").await[0], "* SEARCH 1 2\r\n");

    // An empty result: FETCH and COPY of `$` succeed and do nothing.
    c.run("a15", "SEARCH RETURN (SAVE) SUBJECT nothing-matches")
        .await;
    assert_eq!(c.run("a16", "FETCH $ (FLAGS)").await.len(), 1);
    assert!(ok(&c.run("a17", "COPY $ Saved").await, "a17"));

    // SELECT starts afresh.
    c.run("a18", "SEARCH RETURN (SAVE) ALL").await;
    c.run("a19", "SELECT INBOX").await;
    assert_eq!(c.run("a20", "SEARCH $").await[0], "* SEARCH\r\n");
    let status = c.run("a21", "STATUS Saved (MESSAGES)").await;
    assert!(
        has(&status, "* STATUS \"Saved\" (MESSAGES 2)"),
        "{status:?}"
    );
}

/// RFC 3502: several messages in one APPEND, all stored or none, with APPENDUID naming their
/// UIDs in order (RFC 4315 §3); RFC 6855 §4's `UTF8 (literal8)` form; a zero-length message
/// cancels the whole command with NO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiappend_is_atomic() {
    let server = TestServer::start().await;
    let mut c = alice_with(&server, &[]).await;
    let caps = c.run("c1", "CAPABILITY").await;
    assert!(caps[0].contains(" MULTIAPPEND"), "{caps:?}");
    let one = "Subject: one\r\n\r\n1\r\n";
    let two = "Subject: zwei \u{e4}\r\n\r\n2\r\n";
    c.send(&format!(
        "a1 APPEND INBOX (\\Seen) {{{}+}}\r\n{one} (\\Flagged) \"01-Feb-2024 10:00:00 +0000\" UTF8 (~{{{}+}}\r\n{two})\r\n",
        one.len(),
        two.len()
    ))
    .await;
    let appended = c.until("a1").await;
    let validity = {
        let status = c.run("a2", "STATUS INBOX (UIDVALIDITY MESSAGES)").await;
        assert!(status[0].contains("MESSAGES 2"), "{status:?}");
        status[0]
            .split_whitespace()
            .skip_while(|w| *w != "(UIDVALIDITY")
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert!(
        last(&appended).starts_with(&format!("a1 OK [APPENDUID {validity} 1:2]")),
        "{appended:?}"
    );
    c.run("a3", "SELECT INBOX").await;
    let flags = c
        .run(
            "a4",
            "FETCH 1:2 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
        )
        .await;
    assert!(flags[0].contains("\\Seen"), "{flags:?}");
    assert!(
        flags
            .iter()
            .any(|l| l.contains("\\Flagged") && l.contains("01-Feb-2024 10:00:00 +0000")),
        "{flags:?}"
    );
    assert!(flags.iter().any(|l| l.contains("zwei ä")), "{flags:?}");

    // A zero-length message cancels the command: nothing of it is kept.
    c.send(&format!(
        "a5 APPEND INBOX {{{}+}}\r\n{one} {{0+}}\r\n\r\n",
        one.len()
    ))
    .await;
    let cancelled = c.until("a5").await;
    assert!(last(&cancelled).starts_with("a5 NO"), "{cancelled:?}");
    let status = c.run("a6", "STATUS INBOX (MESSAGES)").await;
    assert!(
        has(&status, "* STATUS \"INBOX\" (MESSAGES 2)"),
        "{status:?}"
    );
}
