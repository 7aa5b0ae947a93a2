//! Extension syntax read by Tern itself: RFC 4731 ESEARCH (`SEARCH RETURN`) and RFC 5258
//! LIST-EXTENDED with RFC 5819 LIST-STATUS and RFC 6154 SPECIAL-USE selection.

use tern_testkit::TestServer;

use crate::raw::{last, Client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esearch_returns_what_was_asked() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = (1..=6)
        .map(|i| {
            let subject = if i % 2 == 0 { "even" } else { "odd" };
            format!("Subject: {subject} {i}\r\n\r\nbody\r\n").into_bytes()
        })
        .collect();
    crate::deliver_to_alice(&server, &messages).await;
    let mut c = Client::logged_in(&server).await;
    let caps = c.run("a1", "CAPABILITY").await;
    for cap in [" ESEARCH", " LIST-EXTENDED", " LIST-STATUS", " SPECIAL-USE"] {
        assert!(caps[0].contains(cap), "{cap}: {caps:?}");
    }
    c.run("a2", "SELECT INBOX").await;
    c.run("a3", "STORE 1:2 +FLAGS (\\Seen)").await;
    let all = c.run("a4", "SEARCH RETURN () SUBJECT even").await;
    assert_eq!(all[0], "* ESEARCH (TAG \"a4\") ALL 2,4,6\r\n", "{all:?}");
    let some = c
        .run("a5", "UID SEARCH RETURN (MIN MAX COUNT) UNSEEN")
        .await;
    assert_eq!(
        some[0], "* ESEARCH (TAG \"a5\") UID MIN 3 MAX 6 COUNT 4\r\n",
        "{some:?}"
    );
    let none = c
        .run("a6", "SEARCH RETURN (MIN COUNT ALL) SUBJECT nowhere")
        .await;
    assert_eq!(none[0], "* ESEARCH (TAG \"a6\") COUNT 0\r\n", "{none:?}");
    let ranges = c.run("a7", "SEARCH RETURN (ALL) 2:5").await;
    assert_eq!(ranges[0], "* ESEARCH (TAG \"a7\") ALL 2:5\r\n");
    // The keys after RETURN are read by the same parser as plain SEARCH's, literals too.
    c.send("a8 SEARCH RETURN (COUNT) CHARSET UTF-8 SUBJECT {3+}\r\nodd\r\n")
        .await;
    let literal = c.until("a8").await;
    assert_eq!(
        literal[0], "* ESEARCH (TAG \"a8\") COUNT 3\r\n",
        "{literal:?}"
    );
    // The first MODSEQ search turns CONDSTORE on: an untagged HIGHESTMODSEQ comes first.
    let modseq = c.run("a9", "SEARCH RETURN (COUNT) MODSEQ 1").await;
    assert!(
        modseq
            .iter()
            .any(|l| l.starts_with("* ESEARCH (TAG \"a9\") COUNT 6 MODSEQ ")),
        "{modseq:?}"
    );
    for (tag, bad) in [
        ("b1", "SEARCH RETURN (SAVED) ALL"),
        ("b2", "SEARCH RETURN (MIN ALL"),
    ] {
        let refused = c.run(tag, bad).await;
        assert!(
            last(&refused).starts_with(&format!("{tag} BAD")),
            "{refused:?}"
        );
    }
    // Plain SEARCH keeps its IMAP4rev1 answer.
    let plain = c.run("c1", "SEARCH SUBJECT even").await;
    assert_eq!(plain[0], "* SEARCH 2 4 6\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_extended_selects_marks_and_adds_status() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    crate::deliver_to_alice(&server, &[b"Subject: x\r\n\r\nx\r\n".to_vec()]).await;
    let mut c = Client::logged_in(&server).await;
    for (tag, command) in [
        ("a1", "CREATE Work/2026"),
        ("a2", "CREATE Play"),
        ("a3", "UNSUBSCRIBE Work"),
        ("a4", "SUBSCRIBE Work/2026"),
        ("a5", "UNSUBSCRIBE Play"),
    ] {
        let done = c.run(tag, command).await;
        assert!(
            last(&done).starts_with(&format!("{tag} OK")),
            "{command}: {done:?}"
        );
    }
    let subscribed = c.run("b1", "LIST (SUBSCRIBED) \"\" \"*\"").await;
    assert!(
        subscribed
            .iter()
            .any(|l| l.starts_with("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Work/2026\"")),
        "{subscribed:?}"
    );
    assert!(
        !subscribed
            .iter()
            .any(|l| l.contains("\"Play\"") || l.contains("\"Work\"\r")),
        "unsubscribed ones are left out: {subscribed:?}"
    );
    let recursive = c
        .run("b2", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"")
        .await;
    assert!(
        recursive
            .iter()
            .any(|l| l
                == "* LIST (\\HasChildren) \"/\" \"Work\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
        "{recursive:?}"
    );
    let status = c
        .run(
            "b3",
            "LIST \"\" (INBOX \"Pl*\") RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UNSEEN))",
        )
        .await;
    let inbox = status
        .iter()
        .position(|l| l.starts_with("* LIST (") && l.contains("INBOX"))
        .unwrap_or_else(|| panic!("{status:?}"));
    assert!(status[inbox].contains("\\Subscribed"), "{status:?}");
    assert_eq!(
        status[inbox + 1],
        "* STATUS \"INBOX\" (MESSAGES 1 UNSEEN 1)\r\n"
    );
    let play = status
        .iter()
        .position(|l| l.contains("\"Play\""))
        .unwrap_or_else(|| panic!("{status:?}"));
    assert!(!status[play].contains("\\Subscribed"));
    assert_eq!(
        status[play + 1],
        "* STATUS \"Play\" (MESSAGES 0 UNSEEN 0)\r\n"
    );
    assert_eq!(
        status.len(),
        5,
        "two mailboxes, two STATUS, the OK: {status:?}"
    );
    let special = c.run("b4", "LIST (SPECIAL-USE) \"\" \"*\"").await;
    assert!(special.len() > 2, "the special-use folders: {special:?}");
    assert!(
        special[..special.len() - 1]
            .iter()
            .all(|l| l.contains("\\Sent")
                || l.contains("\\Drafts")
                || l.contains("\\Trash")
                || l.contains("\\Junk")
                || l.contains("\\Archive")),
        "{special:?}"
    );
    for (tag, bad) in [
        ("c1", "LIST (RECURSIVEMATCH) \"\" \"*\""),
        ("c2", "LIST \"\" \"*\" RETURN (STATUS (BOGUS))"),
    ] {
        let refused = c.run(tag, bad).await;
        assert!(
            last(&refused).starts_with(&format!("{tag} BAD")),
            "{refused:?}"
        );
    }
}

/// The value in `KEY (value)` of the first line that has it.
fn object_id(lines: &[String], key: &str) -> String {
    lines
        .iter()
        .find_map(|l| {
            let rest = &l[l.find(&format!("{key} ("))? + key.len() + 2..];
            Some(rest[..rest.find(')')?].to_string())
        })
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

/// RFC 8474 OBJECTID: MAILBOXID on CREATE, SELECT and STATUS, kept through RENAME and never
/// given again; EMAILID shared by a message and its copy; THREADID NIL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_ids_for_mailboxes_and_messages() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    crate::deliver_to_alice(&server, &[b"Subject: a\r\n\r\nsame\r\n".to_vec()]).await;
    let mut c = Client::logged_in(&server).await;
    assert!(c.run("a1", "CAPABILITY").await[0].contains(" OBJECTID"));
    let created = c.run("a2", "CREATE Projects").await;
    let projects = object_id(&created, "MAILBOXID");
    assert!(
        last(&created).starts_with("a2 OK [MAILBOXID ("),
        "{created:?}"
    );
    let renamed = c.run("a3", "RENAME Projects Archive/Projects").await;
    assert!(last(&renamed).starts_with("a3 OK"), "{renamed:?}");
    let status = c
        .run("a4", "STATUS Archive/Projects (MESSAGES MAILBOXID)")
        .await;
    assert_eq!(
        object_id(&status, "MAILBOXID"),
        projects,
        "kept through RENAME"
    );
    assert!(status[0].contains("MESSAGES 0"), "{status:?}");
    let again = c.run("a5", "CREATE Projects").await;
    assert_ne!(
        object_id(&again, "MAILBOXID"),
        projects,
        "a new mailbox, a new id"
    );

    let select = c.run("b1", "SELECT INBOX").await;
    let inbox = object_id(&select, "MAILBOXID");
    let only = c.run("b2", "STATUS INBOX (MAILBOXID)").await;
    assert_eq!(
        only[0],
        format!("* STATUS \"INBOX\" (MAILBOXID ({inbox}))\r\n")
    );
    c.run("b3", "COPY 1 Projects").await;
    c.send("b4 APPEND INBOX {20+}\r\nSubject: a\r\n\r\nsame\r\n\r\n")
        .await;
    c.until("b4").await;
    c.run("b5", "NOOP").await;
    let fetch = c.run("b6", "FETCH 1:2 (EMAILID THREADID)").await;
    let first = object_id(&fetch[..1], "EMAILID");
    let second = object_id(&fetch[1..2], "EMAILID");
    assert_ne!(first, second, "appended separately: another message");
    assert!(fetch[0].contains("THREADID NIL"), "{fetch:?}");
    assert!(!fetch[0].contains("UID "), "not asked for: {fetch:?}");
    c.run("b7", "SELECT Projects").await;
    let copy = c.run("b8", "UID FETCH 1:* (FLAGS EMAILID)").await;
    assert_eq!(
        object_id(&copy, "EMAILID"),
        first,
        "a copy keeps its EMAILID"
    );
    assert!(
        copy[0].contains("UID 1") && copy[0].contains("FLAGS ("),
        "{copy:?}"
    );
}

/// RFC 6154 §3 CREATE-SPECIAL-USE: `CREATE name (USE (\Flagged))` gives the new mailbox that
/// attribute in LIST; an unknown use, or more than one, is refused with USEATTR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_a_special_use() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let mut c = Client::logged_in(&server).await;
    assert!(c.run("a1", "CAPABILITY").await[0].contains(" CREATE-SPECIAL-USE"));
    let created = c.run("a2", "CREATE Starred (USE (\\Flagged))").await;
    assert!(last(&created).starts_with("a2 OK"), "{created:?}");
    let list = c.run("a3", "LIST \"\" Starred").await;
    assert_eq!(
        list[0],
        "* LIST (\\HasNoChildren \\Flagged) \"/\" \"Starred\"\r\n"
    );
    let unknown = c.run("a4", "CREATE Odd (USE (\\Bogus))").await;
    assert!(last(&unknown).starts_with("a4 NO [USEATTR]"), "{unknown:?}");
    let two = c.run("a5", "CREATE Two (USE (\\Sent \\Drafts))").await;
    assert!(last(&two).starts_with("a5 NO [USEATTR]"), "{two:?}");
    let bad = c.run("a6", "CREATE Bad (NOPE (\\Sent))").await;
    assert!(last(&bad).starts_with("a6 BAD"), "{bad:?}");
    let none = c.run("a7", "LIST \"\" \"%\"").await;
    assert!(!none
        .iter()
        .any(|l| l.contains("Odd") || l.contains("Two") || l.contains("Bad")));
}

/// RFC 8474 §6: SEARCH EMAILID finds the messages of that content (a copy shares it), THREADID
/// matches nothing (threads are not tracked: every THREADID is NIL), and the keys combine with
/// others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_emailid_and_threadid() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = (1..=3)
        .map(|i| format!("Subject: m{i}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    crate::deliver_to_alice(&server, &messages).await;
    let mut c = Client::logged_in(&server).await;
    c.run("a1", "SELECT INBOX").await;
    let fetched = c.run("a2", "FETCH 2 (EMAILID)").await;
    let id = fetched[0]
        .split("EMAILID (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("an EMAILID")
        .to_string();
    c.run("a3", "COPY 2 INBOX").await;
    assert_eq!(
        c.run("a4", &format!("SEARCH EMAILID {id}")).await[0],
        "* SEARCH 2 4\r\n"
    );
    assert_eq!(
        c.run("a5", &format!("UID SEARCH NOT EMAILID {id}")).await[0],
        "* SEARCH 1 3\r\n"
    );
    assert_eq!(
        c.run("a6", "SEARCH OR THREADID T1 EMAILID Mnone").await[0],
        "* SEARCH\r\n"
    );
    let returned = c
        .run("a7", &format!("SEARCH RETURN (COUNT) EMAILID {id}"))
        .await;
    assert_eq!(returned[0], "* ESEARCH (TAG \"a7\") COUNT 2\r\n");
}
