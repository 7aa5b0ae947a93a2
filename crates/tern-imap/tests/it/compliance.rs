//! Behaviour Dovecot's imaptest checks and Tern once got wrong (see the issue-8 notes): each
//! test names the RFC rule it holds the server to.

use tern_testkit::TestServer;

use crate::raw::{last, Client};

async fn alice_with(server: &TestServer, messages: usize) -> Client {
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = (1..=messages)
        .map(|i| format!("Subject: m{i}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    if !messages.is_empty() {
        crate::deliver_to_alice(server, &messages).await;
    }
    Client::logged_in(server).await
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
    let mut two = Client::logged_in(&server).await;
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
        fetched
            .iter()
            .any(|l| l.contains("FLAGS (\\Seen \\Recent)")),
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
    let mut c = Client::logged_in(&server).await;
    let list = c.run("a1", "LIST \"\" \"&-bad&\"").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(last(&list).starts_with("a1 OK"), "{list:?}");
}

/// RFC 5256 §3 with RFC 4790 §9.2: i;ascii-casemap maps a-z to A-Z, so `[` and `_` sort
/// after the letters; §4 step 1B: a reference loop drops the old parent link and adds none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_folds_to_upper_case_and_thread_breaks_loops() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages = [
        "Subject: _x\r\n\r\n1\r\n",
        "Subject: abc\r\n\r\n2\r\n",
        "Subject: [xyz]\r\n\r\n3\r\n",
    ]
    .map(|m| m.as_bytes().to_vec());
    crate::deliver_to_alice(&server, &messages).await;
    let mut c = Client::logged_in(&server).await;
    c.run("a1", "SELECT INBOX").await;
    let sorted = c.run("a2", "SORT (SUBJECT) UTF-8 ALL").await;
    assert_eq!(sorted[0], "* SORT 2 3 1\r\n", "abc, [xyz], _x");

    let looped = [
        "Message-ID: <a@x>\r\nSubject: a\r\n\r\n1\r\n",
        "Message-ID: <b@x>\r\nReferences: <a@x> <c@x>\r\nSubject: b\r\n\r\n2\r\n",
        "Message-ID: <c@x>\r\nReferences: <b@x>\r\nSubject: c\r\n\r\n3\r\n",
    ]
    .map(|m| m.as_bytes().to_vec());
    c.run("a3", "CREATE Loop").await;
    for (i, m) in looped.iter().enumerate() {
        c.send(&format!("a4{i} APPEND Loop {{{}+}}\r\n", m.len()))
            .await;
        c.send(&format!("{}\r\n", String::from_utf8_lossy(m))).await;
        c.until(&format!("a4{i}")).await;
    }
    c.run("a5", "SELECT Loop").await;
    let threads = c.run("a6", "THREAD REFERENCES UTF-8 ALL").await;
    let line = threads[0].trim_end();
    assert!(
        line == "* THREAD (3 2)(1)" || line == "* THREAD (1)(3 2)",
        "{threads:?}"
    );
}

/// RFC 3516 §4.2: BINARY takes any part but a multipart; a message/rfc822 part comes as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_of_a_message_part() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let inner = "Subject: inner\r\n\r\ninner body\r\n";
    let message = format!(
        "Subject: outer\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
         {inner}--b--\r\n"
    );
    crate::deliver_to_alice(&server, &[message.into_bytes()]).await;
    let mut c = Client::logged_in(&server).await;
    c.run("a1", "SELECT INBOX").await;
    let size = c.run("a2", "FETCH 1 (BINARY.SIZE[2])").await;
    assert!(size[0].contains("BINARY.SIZE[2] "), "{size:?}");
    let body = c.run("a3", "FETCH 1 (BINARY.PEEK[2])").await;
    assert!(body[0].starts_with("* 1 FETCH (BINARY[2] ~{"), "{body:?}");
    let joined = body.concat();
    assert!(
        joined.contains("Subject: inner\r\n\r\ninner body"),
        "{body:?}"
    );
    assert!(last(&body).starts_with("a3 OK"));
}

/// RFC 7162 §3.1: the first command that uses CONDSTORE on a selected mailbox is answered
/// with its HIGHESTMODSEQ too; §3.1.10: ESEARCH with only MIN (or MAX) gives the mod-sequence
/// of that message, with COUNT or ALL the highest of all that matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condstore_enabled_by_a_command_and_esearch_modseq() {
    let server = TestServer::start().await;
    let mut c = alice_with(&server, 3).await;
    c.run("a1", "SELECT INBOX").await;
    c.run("a2", "STORE 3 +FLAGS.SILENT (\\Flagged)").await;
    let first = c.run("a3", "FETCH 1 (MODSEQ)").await;
    assert!(
        first.iter().any(|l| l.starts_with("* OK [HIGHESTMODSEQ ")),
        "{first:?}"
    );
    let once = c.run("a4", "FETCH 1 (MODSEQ)").await;
    assert!(
        !once.iter().any(|l| l.contains("HIGHESTMODSEQ")),
        "{once:?}"
    );
    let modseq_of = |line: &str| -> u64 {
        let at = line.find("MODSEQ (").expect("MODSEQ") + 8;
        line[at..].split(')').next().unwrap().parse().unwrap()
    };
    let of_one = modseq_of(
        &first
            .iter()
            .find(|l| l.starts_with("* 1 FETCH"))
            .unwrap()
            .clone(),
    );
    let of_three = modseq_of(&c.run("a5", "FETCH 3 (MODSEQ)").await[0]);
    assert!(of_three > of_one);
    let min = c.run("a6", "SEARCH RETURN (MIN) MODSEQ 1").await;
    assert_eq!(
        min[0],
        format!("* ESEARCH (TAG \"a6\") MIN 1 MODSEQ {of_one}\r\n")
    );
    let count = c.run("a7", "SEARCH RETURN (MIN COUNT) MODSEQ 1").await;
    assert_eq!(
        count[0],
        format!("* ESEARCH (TAG \"a7\") MIN 1 COUNT 3 MODSEQ {of_three}\r\n")
    );
}

/// RFC 3501 §6.4.4: SENTBEFORE, SENTON and SENTSINCE take the Date field's own calendar day,
/// "disregarding time and timezone".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_dates_are_the_fields_own_days() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages = [
        "Date: Sat, 24 Mar 2007 23:00:00 +0200\r\nSubject: 1\r\n\r\n1\r\n",
        "Date: Sun, 25 Mar 2007 00:00:00 +0200\r\nSubject: 2\r\n\r\n2\r\n",
        "Date: Sun, 25 Mar 2007 01:00:00 +0200\r\nSubject: 3\r\n\r\n3\r\n",
    ]
    .map(|m| m.as_bytes().to_vec());
    crate::deliver_to_alice(&server, &messages).await;
    let mut c = Client::logged_in(&server).await;
    c.run("a1", "SELECT INBOX").await;
    assert_eq!(
        c.run("a2", "SEARCH SENTON 24-Mar-2007").await[0],
        "* SEARCH 1\r\n"
    );
    assert_eq!(
        c.run("a3", "SEARCH SENTON 25-Mar-2007").await[0],
        "* SEARCH 2 3\r\n"
    );
    assert_eq!(
        c.run("a4", "SEARCH SENTBEFORE 25-Mar-2007").await[0],
        "* SEARCH 1\r\n"
    );
    assert_eq!(
        c.run("a5", "SEARCH SENTSINCE 25-Mar-2007").await[0],
        "* SEARCH 2 3\r\n"
    );
}

/// RFC 3501 §2.3.2: a message is \Recent to one session only, the first to select its
/// mailbox (or, for a message that arrives later, the first read-write session to learn of
/// it); EXAMINE sees recent messages without taking them; SELECT says how many (§7.3.2),
/// FETCH FLAGS and the RECENT, NEW and OLD search keys follow it (§6.4.4); STATUS RECENT counts
/// those nobody has taken yet (§6.3.10); copies are recent in their new mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_belongs_to_one_session() {
    let server = TestServer::start().await;
    let mut first = alice_with(&server, 2).await;
    let mut second = Client::logged_in(&server).await;
    let mut third = Client::logged_in(&server).await;
    assert!(has(&first.run("a1", "SELECT INBOX").await, "* 2 RECENT"));
    assert!(has(&second.run("b1", "SELECT INBOX").await, "* 0 RECENT"));
    let flags = first.run("a2", "FETCH 1 FLAGS").await;
    assert_eq!(flags[0], "* 1 FETCH (FLAGS (\\Recent))\r\n");
    assert_eq!(
        second.run("b2", "FETCH 1 FLAGS").await[0],
        "* 1 FETCH (FLAGS ())\r\n"
    );
    first.run("a3", "STORE 1 +FLAGS.SILENT (\\Seen)").await;
    assert_eq!(
        first.run("a4", "SEARCH RECENT").await[0],
        "* SEARCH 1 2\r\n"
    );
    assert_eq!(first.run("a5", "SEARCH NEW").await[0], "* SEARCH 2\r\n");
    assert_eq!(first.run("a6", "SEARCH OLD").await[0], "* SEARCH\r\n");
    assert_eq!(second.run("b3", "SEARCH OLD").await[0], "* SEARCH 1 2\r\n");
    let status = third.run("c1", "STATUS INBOX (RECENT)").await;
    assert!(has(&status, "* STATUS \"INBOX\" (RECENT 0)"), "{status:?}");

    crate::deliver_to_alice(&server, &[b"Subject: m3\r\n\r\nbody 3\r\n".to_vec()]).await;
    let status = third.run("c2", "STATUS INBOX (RECENT)").await;
    assert!(has(&status, "* STATUS \"INBOX\" (RECENT 1)"), "{status:?}");
    assert!(has(&third.run("c3", "EXAMINE INBOX").await, "* 1 RECENT"));
    let noop = second.run("b4", "NOOP").await;
    assert!(
        has(&noop, "* 3 EXISTS") && has(&noop, "* 1 RECENT"),
        "{noop:?}"
    );
    let noop = first.run("a7", "NOOP").await;
    assert!(
        has(&noop, "* 3 EXISTS") && has(&noop, "* 2 RECENT"),
        "{noop:?}"
    );
    assert_eq!(second.run("b5", "SEARCH RECENT").await[0], "* SEARCH 3\r\n");

    // A copy is new in its mailbox: recent to the next session that selects it.
    first.run("a8", "CREATE Copies").await;
    first.run("a9", "COPY 1:2 Copies").await;
    assert!(has(&third.run("c4", "SELECT Copies").await, "* 2 RECENT"));
}

/// RFC 9051 §6.3.7–6.3.9 and RFC 5258 §3: subscriptions are names, apart from mailboxes.
/// CREATE does not subscribe; a name can be subscribed without a mailbox and stays
/// subscribed when its mailbox is deleted (LIST (SUBSCRIBED) marks it \NonExistent); LSUB
/// with `%` lists a parent of a subscribed mailbox it does not reach as \Noselect (RFC 3501
/// §6.3.9); RENAME takes the subscription along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_names() {
    let server = TestServer::start().await;
    let mut c = alice_with(&server, 0).await;
    for name in ["box", "box/a", "box/b/c", "gone"] {
        assert!(last(&c.run("a1", &format!("CREATE {name}")).await).starts_with("a1 OK"));
    }
    assert!(!c
        .run("a2", "LSUB \"\" *")
        .await
        .iter()
        .any(|l| l.contains("box")));
    for name in ["box/a", "box/b/c", "gone", "later"] {
        assert!(last(&c.run("a3", &format!("SUBSCRIBE {name}")).await).starts_with("a3 OK"));
    }
    c.run("a4", "DELETE gone").await;
    let subscribed = c.run("a5", "LIST (SUBSCRIBED) \"\" *").await;
    for line in [
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"box/a\"",
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"box/b/c\"",
        "* LIST (\\NonExistent \\Subscribed) \"/\" \"gone\"",
        "* LIST (\\NonExistent \\Subscribed) \"/\" \"later\"",
    ] {
        assert!(has(&subscribed, line), "{line}: {subscribed:?}");
    }
    assert!(!subscribed.iter().any(|l| l.ends_with("\"box\"\r\n")));
    let lsub = c.run("a6", "LSUB \"\" box/%").await;
    assert!(
        has(&lsub, "* LSUB (\\HasNoChildren) \"/\" \"box/a\""),
        "{lsub:?}"
    );
    assert!(
        has(&lsub, "* LSUB (\\Noselect) \"/\" \"box/b\""),
        "{lsub:?}"
    );
    assert_eq!(lsub.len(), 3, "{lsub:?}");
    let recursive = c.run("a7", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %").await;
    assert!(
        has(
            &recursive,
            "* LIST (\\HasChildren) \"/\" \"box\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"
        ),
        "{recursive:?}"
    );
    c.run("a8", "RENAME box/a box/z").await;
    let lsub = c.run("a9", "LSUB \"\" box/*").await;
    assert!(
        has(&lsub, "* LSUB (\\HasNoChildren) \"/\" \"box/z\""),
        "{lsub:?}"
    );
    assert!(!lsub.iter().any(|l| l.contains("box/a")), "{lsub:?}");
    c.run("a10", "UNSUBSCRIBE later").await;
    let lsub = c.run("a11", "LSUB \"\" *").await;
    assert!(!lsub.iter().any(|l| l.contains("later")), "{lsub:?}");
}

/// RFC 3516 §4.4 with RFC 9051 §4.3: a message appended with NUL octets in a body part (a
/// literal8) is stored with that part in base64, since no literal may carry a NUL: BODY[1]
/// is the base64 text, BINARY[1] the octets appended; a NUL in a header cannot be kept and
/// the APPEND is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_octets_are_stored_in_base64() {
    let server = TestServer::start().await;
    let mut c = alice_with(&server, 0).await;
    let head = "From: user@domain.org\r\nContent-Type: application/octet-stream\r\n\
                Content-Transfer-Encoding: binary\r\n\r\n";
    let body = "\0-\u{e4}\n\r\n\n";
    c.send(&format!(
        "a1 APPEND INBOX ~{{{}+}}\r\n{head}{body}\r\n",
        head.len() + body.len()
    ))
    .await;
    assert!(last(&c.until("a1").await).starts_with("a1 OK"));
    c.run("a2", "SELECT INBOX").await;
    let fetched = c
        .run("a3", "FETCH 1 (BODY.PEEK[1] BINARY.PEEK[1] BINARY.SIZE[1])")
        .await;
    let text = fetched.concat();
    let (body_part, _) = text.split_once(" BINARY[1]").expect("BINARY[1] answered");
    assert!(!body_part.contains('\0'), "{text:?}");
    assert!(text.contains("BODY[1] {12}\r\nAC3Dp"), "{text:?}");
    assert!(
        text.contains(&format!("BINARY[1] ~{{{}}}\r\n{body}", body.len())),
        "{text:?}"
    );
    assert!(
        text.contains(&format!("BINARY.SIZE[1] {}", body.len())),
        "{text:?}"
    );
    let nul_in_header = "Subject: \0\r\n\r\nx\r\n";
    c.send(&format!(
        "a4 APPEND INBOX ~{{{}+}}\r\n{nul_in_header}\r\n",
        nul_in_header.len()
    ))
    .await;
    assert!(last(&c.until("a4").await).starts_with("a4 NO"));
}

/// A FETCH whose answers pass 256 KiB goes out in windows (the client reads the first while
/// the server builds the next): every message is answered once, in order, with all its
/// items, and the tagged OK comes after the last (RFC 9051 §6.4.5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_fetch_answers_every_message_once_in_order() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let subject = "s".repeat(900);
    let messages: Vec<Vec<u8>> = (1..=400)
        .map(|i| format!("Subject: {i} {subject}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    crate::deliver_to_alice(&server, &messages).await;
    let mut c = Client::logged_in(&server).await;
    c.run("a1", "EXAMINE INBOX").await;
    let lines = c
        .run("a2", "FETCH 1:* (FLAGS ENVELOPE BODY.PEEK[TEXT])")
        .await;
    let mut answered = Vec::new();
    for line in &lines {
        if let Some(rest) = line.strip_prefix("* ") {
            if let Some((seq, _)) = rest.split_once(" FETCH (") {
                answered.push(seq.parse::<usize>().expect("a message number"));
                assert!(line.contains(&format!("\"{} {subject}\"", answered.len())));
            }
        }
    }
    assert_eq!(answered, (1..=400).collect::<Vec<_>>());
    assert!(last(&lines).starts_with("a2 OK"), "{}", last(&lines));
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("a2 ")).count(),
        1,
        "one tagged answer"
    );
}
