//! Raw-socket dialogues: states, refusals, limits, bad input.

use std::time::Duration;

use tern_config::Protocol;
use tern_testkit::{TestServer, TEST_PASSWORD};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A raw IMAP client on the plain loopback listener: sends lines, reads lines.
pub(crate) struct Client {
    lines: BufReader<TcpStream>,
}

impl Client {
    pub(crate) async fn connect(server: &TestServer) -> Self {
        let stream = TcpStream::connect(server.addr(Protocol::Imap))
            .await
            .unwrap();
        let mut client = Self {
            lines: BufReader::new(stream),
        };
        let greeting = client.line().await;
        assert!(
            greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
            "{greeting}"
        );
        client
    }

    /// A connection logged in as alice@example.test (tag `l0`).
    pub(crate) async fn logged_in(server: &TestServer) -> Self {
        let mut client = Self::connect(server).await;
        let login = client
            .run(
                "l0",
                &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
            )
            .await;
        assert!(last(&login).starts_with("l0 OK"), "{login:?}");
        client
    }

    pub(crate) async fn line(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).await.unwrap();
        line
    }

    /// The untagged SEARCH line of `SEARCH criteria`.
    async fn search(&mut self, tag: &str, criteria: &str) -> String {
        self.run(tag, &format!("SEARCH {criteria}")).await[0].clone()
    }

    /// A line the server sends on its own (IDLE), within 10 s.
    async fn pushed(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.line())
            .await
            .expect("pushed in time")
    }

    pub(crate) async fn send(&mut self, text: &str) {
        self.lines
            .get_mut()
            .write_all(text.as_bytes())
            .await
            .unwrap();
    }

    /// Sends `command` with `tag` and returns every line up to and including the tagged one.
    pub(crate) async fn run(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(&format!("{tag} {command}\r\n")).await;
        self.until(tag).await
    }

    /// Every octet up to and including the tagged line: for answers that are not UTF-8.
    async fn until_raw(&mut self, tag: &str) -> Vec<u8> {
        let mut raw = Vec::new();
        loop {
            let start = raw.len();
            self.lines.read_until(b'\n', &mut raw).await.unwrap();
            assert!(raw.len() > start, "connection closed after {raw:?}");
            if raw[start..].starts_with(format!("{tag} ").as_bytes()) {
                return raw;
            }
        }
    }

    pub(crate) async fn until(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "connection closed after {lines:?}");
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

pub(crate) fn last(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_and_refusals() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let mut c = Client::connect(&server).await;
    let caps = c.run("a1", "CAPABILITY").await;
    assert!(
        caps[0].contains("STARTTLS") && caps[0].contains("AUTH=PLAIN"),
        "{caps:?}"
    );
    assert!(last(&c.run("a2", "SELECT INBOX").await).starts_with("a2 BAD"));
    assert!(last(&c.run("a3", "FOO").await).starts_with("a3 BAD"));
    // RFC 4978 §3: COMPRESS is for an authenticated session.
    assert!(last(&c.run("a3c", "COMPRESS DEFLATE").await).starts_with("a3c BAD"));
    let wrong = c.run("a4", "LOGIN alice@example.test wrong").await;
    assert!(
        last(&wrong).starts_with("a4 NO [AUTHENTICATIONFAILED]"),
        "{wrong:?}"
    );
    let ok = c
        .run(
            "a5",
            &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
        )
        .await;
    assert!(last(&ok).starts_with("a5 OK [CAPABILITY"), "{ok:?}");
    assert!(last(&c.run("a6", "LOGIN alice@example.test x").await).starts_with("a6 BAD"));
    let missing = c.run("a7", "SELECT Nowhere").await;
    assert!(
        last(&missing).starts_with("a7 NO [NONEXISTENT]"),
        "{missing:?}"
    );
    assert!(last(&c.run("a8", "FETCH 1 FLAGS").await).starts_with("a8 BAD"));
    let select = c.run("a9", "EXAMINE inbox").await;
    assert!(select.iter().any(|l| l == "* 0 EXISTS\r\n"), "{select:?}");
    assert!(last(&select).starts_with("a9 OK [READ-ONLY]"), "{select:?}");
    assert!(
        last(&c.run("b1", "FETCH 1 FLAGS").await).starts_with("b1 BAD"),
        "no message 1"
    );
    let bye = c.run("b3", "LOGOUT").await;
    assert!(bye[0].starts_with("* BYE"), "{bye:?}");
    assert!(last(&bye).starts_with("b3 OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticate_plain_with_and_without_initial_response() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("\0alice@example.test\0{TEST_PASSWORD}"));
    let mut c = Client::connect(&server).await;
    let ok = c.run("a1", &format!("AUTHENTICATE PLAIN {token}")).await;
    assert!(last(&ok).starts_with("a1 OK"), "{ok:?}");
    let mut c = Client::connect(&server).await;
    c.send("a1 AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ \r\n");
    c.send(&format!("{token}\r\n")).await;
    assert!(last(&c.until("a1").await).starts_with("a1 OK"));
    let mut c = Client::connect(&server).await;
    c.send("a1 AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ \r\n");
    c.send("*\r\n").await;
    assert!(last(&c.until("a1").await).starts_with("a1 BAD"));
    assert!(
        last(&c.run("a2", "NOOP").await).starts_with("a2 OK"),
        "still usable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_need_tls_unless_allowed() {
    let server = TestServer::start_with("[auth]\nplaintext_without_tls = \"never\"\n").await;
    server.add_user("alice@example.test").await;
    let mut c = Client::connect(&server).await;
    let caps = c.run("a1", "CAPABILITY").await;
    assert!(
        caps[0].contains("LOGINDISABLED") && !caps[0].contains("AUTH=PLAIN"),
        "{caps:?}"
    );
    let refused = c
        .run(
            "a2",
            &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
        )
        .await;
    assert!(
        last(&refused).starts_with("a2 NO [PRIVACYREQUIRED]"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literals_over_the_limit_are_refused_before_they_are_sent() {
    let server = TestServer::start_with("[imap]\nmax_prelogin_literal = 1024\n").await;
    let mut c = Client::connect(&server).await;
    c.send("a1 LOGIN {5000}\r\n").await;
    let reply = c.line().await;
    assert!(reply.starts_with("a1 NO [TOOBIG]"), "{reply}");
    // The client did not send the literal: the next command is read as a command.
    assert!(last(&c.run("a2", "NOOP").await).starts_with("a2 OK"));
    // A non-synchronising literal in flight is swallowed, then refused.
    c.send(&format!("a3 LOGIN {{2000+}}\r\n{}\r\n", "x".repeat(2000)))
        .await;
    assert!(last(&c.until("a3").await).starts_with("a3 NO [TOOBIG]"));
    assert!(last(&c.run("a4", "NOOP").await).starts_with("a4 OK"));
    // Within the limit: "+" and on.
    c.send("a5 LOGIN {5}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
}

/// After login a command other than APPEND is bounded by `imap.max_command_size` as a whole,
/// literals included (a SEARCH string of megabytes is refused before it is sent); APPEND's
/// messages by `imap.append_limit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_bounded_by_max_command_size_and_appends_by_the_append_limit() {
    let server =
        TestServer::start_with("[imap]\nmax_command_size = 10000\nappend_limit = 50000\n").await;
    server.add_user("alice@example.test").await;
    let mut c = Client::logged_in(&server).await;
    c.run("a0", "SELECT INBOX").await;
    c.send("a1 SEARCH TEXT {20000}\r\n").await;
    let reply = c.line().await;
    assert!(reply.starts_with("a1 NO [TOOBIG]"), "{reply}");
    c.send("a2 SEARCH TEXT {9000}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    c.send(&format!("{} {{9000}}\r\n", "x".repeat(9000))).await;
    // The second literal passes what is left of the command's 10,000 octets.
    let reply = c.line().await;
    assert!(reply.starts_with("a2 NO [TOOBIG]"), "{reply}");
    c.send("a3 APPEND INBOX {20000}\r\n").await;
    assert!(
        c.line().await.starts_with("+ "),
        "an APPEND may pass max_command_size"
    );
    let message = format!("Subject: big\r\n\r\n{}", "y".repeat(20000 - 17));
    c.send(&format!("{message}\r\n")).await;
    assert!(last(&c.until("a3").await).starts_with("a3 OK"));
    c.send("a4 APPEND INBOX {60000}\r\n").await;
    let reply = c.line().await;
    assert!(reply.starts_with("a4 NO [TOOBIG]"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_client_is_logged_out() {
    let server = TestServer::start_with("[imap]\nprelogin_timeout = 1\n").await;
    let mut c = Client::connect(&server).await;
    let bye = tokio::time::timeout(Duration::from_secs(10), c.line())
        .await
        .unwrap();
    assert!(bye.starts_with("* BYE"), "{bye}");
    assert_eq!(c.line().await, "", "closed");
}

/// RFC 2177 IDLE and RFC 9051 §7: what other sessions and deliveries do reaches a session in
/// IDLE at once (EXISTS, FETCH FLAGS, EXPUNGE), and one that polls with NOOP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_other_sessions_in_idle_and_on_noop() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let deliver = || async {
        tern_testkit::smtp_client::deliver(
            server.addr(Protocol::Smtp),
            "carol@remote.example",
            &["alice@example.test"],
            &[b"Subject: hi\r\n\r\nhello\r\n".to_vec()],
        )
        .await
    };
    deliver().await;
    let login = format!("LOGIN alice@example.test \"{TEST_PASSWORD}\"");
    let mut idler = Client::connect(&server).await;
    idler.run("a1", &login).await;
    idler.run("a2", "SELECT INBOX").await;
    let mut other = Client::connect(&server).await;
    other.run("b1", &login).await;
    other.run("b2", "SELECT INBOX").await;

    idler.send("a3 IDLE\r\n").await;
    assert_eq!(idler.line().await, "+ idling\r\n");
    deliver().await;
    assert_eq!(idler.pushed().await, "* 2 EXISTS\r\n");
    // The idler selected first: both messages are \Recent to it (RFC 3501 §2.3.2).
    assert_eq!(idler.pushed().await, "* 2 RECENT\r\n");
    other.run("b3", "STORE 1 +FLAGS (\\Flagged)").await;
    let flags = idler.pushed().await;
    assert!(
        flags.starts_with("* 1 FETCH (FLAGS (\\Flagged \\Recent) UID 1)"),
        "{flags}"
    );
    other.run("b4", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert!(idler.pushed().await.starts_with("* 1 FETCH (FLAGS"));
    let expunged = other.run("b5", "EXPUNGE").await;
    assert_eq!(expunged[0], "* 1 EXPUNGE\r\n", "{expunged:?}");
    assert_eq!(idler.pushed().await, "* 1 EXPUNGE\r\n");
    idler.send("DONE\r\n").await;
    assert!(last(&idler.until("a3").await).starts_with("a3 OK"));
    // The other session learns of a new message on NOOP.
    deliver().await;
    server.inbox("alice@example.test", 2).await;
    let noop = other.run("b6", "NOOP").await;
    assert!(noop.contains(&"* 2 EXISTS\r\n".to_string()), "{noop:?}");
    // Both sessions number the same messages the same way, once the idler has looked.
    idler.run("a4", "NOOP").await;
    let a = idler.run("a5", "FETCH 1:* (UID)").await;
    let b = other.run("b7", "FETCH 1:* (UID)").await;
    assert_eq!(a[..a.len() - 1], b[..b.len() - 1]);
}

/// FETCH of body sections (RFC 9051 §6.4.5) from the structure recorded at delivery: header
/// fields as a mail client's message list asks for them, parts, a nested message, MIME headers
/// and partial fetches, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_sections_and_partial_fetches() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let message = b"From: Carol <carol@remote.example>\r\nSubject: parts\r\nTo: alice@example.test\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n";
    crate::deliver_to_alice(&server, &[message.to_vec()]).await;
    let mut c = Client::connect(&server).await;
    c.run(
        "a1",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    c.run("a2", "SELECT INBOX").await;
    let fetch = |items: &str| format!("FETCH 1 ({items})");
    let lines = c
        .run("a3", &fetch("BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]"))
        .await;
    let joined = lines.concat();
    assert!(
        joined.contains("BODY[HEADER.FIELDS (SUBJECT FROM)] {54}\r\nFrom: Carol <carol@remote.example>\r\nSubject: parts\r\n\r\n)"),
        "{joined}"
    );
    let joined = c.run("a4", &fetch("BODY.PEEK[1]")).await.concat();
    assert!(joined.contains("BODY[1] {10}\r\nfirst part)"), "{joined}");
    let joined = c
        .run("a5", &fetch("BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT]"))
        .await
        .concat();
    assert!(
        joined.contains(
            "BODY[2.HEADER] {18}\r\nSubject: inner\r\n\r\n BODY[2.TEXT] {10}\r\ninner body)"
        ),
        "{joined}"
    );
    let joined = c.run("a6", &fetch("BODY.PEEK[1.MIME]")).await.concat();
    assert!(
        joined.contains("BODY[1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n)"),
        "{joined}"
    );
    let joined = c.run("a7", &fetch("BODY.PEEK[]<0.12>")).await.concat();
    assert!(
        joined.contains("BODY[]<0> {12}\r\nReturn-Path:)"),
        "{joined}"
    );
    let joined = c.run("a8", &fetch("BODY.PEEK[9]")).await.concat();
    assert!(
        joined.contains("BODY[9] \"\")"),
        "a missing part is empty: {joined}"
    );
    let flags = c.run("a9", &fetch("FLAGS")).await.concat();
    assert!(!flags.contains("\\Seen"), "PEEK sets nothing: {flags}");
    c.run("b1", &fetch("BODY[TEXT]")).await;
    let flags = c.run("b2", &fetch("FLAGS")).await.concat();
    assert!(flags.contains("\\Seen"), "{flags}");
}

/// SEARCH and UID SEARCH (RFC 9051 §6.4.4): flags, sizes, sets, header, body and text
/// substrings through the store's index, HEADER on a named field, NOT and OR nesting, dates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_keys() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = [
        "From: Carol <carol@remote.example>\r\nSubject: Quarterly report\r\nX-Project: Apollo\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nThe numbers are in.\r\n",
        "From: Dave <dave@remote.example>\r\nSubject: Lunch\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\n\r\nPizza at noon? The report can wait.\r\n",
        "From: Carol <carol@remote.example>\r\nSubject: Re: Lunch\r\nDate: Wed, 4 Nov 2026 10:00:00 +0000\r\n\r\nYes, pizza.\r\n",
    ]
    .iter()
    .map(|m| m.as_bytes().to_vec())
    .collect();
    crate::deliver_to_alice(&server, &messages).await;
    let mut c = Client::connect(&server).await;
    c.run(
        "a1",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    c.run("a2", "SELECT INBOX").await;
    c.run("a3", "STORE 2 +FLAGS (\\Seen)").await;
    assert_eq!(c.search("b1", "ALL").await, "* SEARCH 1 2 3\r\n");
    assert_eq!(c.search("b2", "UNSEEN").await, "* SEARCH 1 3\r\n");
    assert_eq!(c.search("b3", "FROM carol").await, "* SEARCH 1 3\r\n");
    assert_eq!(c.search("b4", "SUBJECT lunch").await, "* SEARCH 2 3\r\n");
    assert_eq!(c.search("b5", "BODY pizza").await, "* SEARCH 2 3\r\n");
    assert_eq!(c.search("b6", "TEXT report").await, "* SEARCH 1 2\r\n");
    assert_eq!(
        c.search("b7", "HEADER X-Project apollo").await,
        "* SEARCH 1\r\n"
    );
    assert_eq!(
        c.search("b8", "HEADER Subject apollo").await,
        "* SEARCH\r\n"
    );
    assert_eq!(
        c.search("b8a", "HEADER SUBJECT \"re: lun\"").await,
        "* SEARCH 3\r\n"
    );
    assert_eq!(c.search("b9", "NOT FROM carol").await, "* SEARCH 2\r\n");
    assert_eq!(
        c.search("c1", "OR SEEN SUBJECT quarterly").await,
        "* SEARCH 1 2\r\n"
    );
    assert_eq!(c.search("c2", "2:*").await, "* SEARCH 2 3\r\n");
    assert_eq!(
        c.search("c3", "SENTSINCE 3-Nov-2026 SENTBEFORE 4-Nov-2026")
            .await,
        "* SEARCH 2\r\n"
    );
    assert_eq!(
        c.search("c4", "LARGER 1 SMALLER 100000 UNSEEN FROM carol")
            .await,
        "* SEARCH 1 3\r\n"
    );
    let uids = c.run("c5", "UID SEARCH UID 2:3 UNSEEN").await;
    assert_eq!(uids[0], "* SEARCH 3\r\n");
    let bad = c.run("c6", "SEARCH CHARSET KOI8-R ALL").await;
    assert!(last(&bad).starts_with("c6 NO [BADCHARSET"), "{bad:?}");
    let utf8 = c.run("c7", "SEARCH CHARSET UTF-8 SUBJECT lunch").await;
    assert_eq!(utf8[0], "* SEARCH 2 3\r\n");
}

/// A POP3 session's deletions reach an IMAP session of the same mailbox as EXPUNGE (one store,
/// one change log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_deletions_are_seen_over_imap() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages = vec![
        b"Subject: one\r\n\r\n1\r\n".to_vec(),
        b"Subject: two\r\n\r\n2\r\n".to_vec(),
    ];
    crate::deliver_to_alice(&server, &messages).await;
    let mut imap = Client::connect(&server).await;
    imap.run(
        "a1",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    let select = imap.run("a2", "SELECT INBOX").await;
    assert!(select.contains(&"* 2 EXISTS\r\n".to_string()), "{select:?}");

    let pop3 = TcpStream::connect(server.addr(Protocol::Pop3))
        .await
        .unwrap();
    let mut pop3 = BufReader::new(pop3);
    let mut line = String::new();
    pop3.read_line(&mut line).await.unwrap();
    for command in [
        "USER alice@example.test".to_string(),
        format!("PASS {TEST_PASSWORD}"),
        "DELE 1".to_string(),
        "QUIT".to_string(),
    ] {
        pop3.get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        line.clear();
        pop3.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("+OK"), "{command}: {line}");
    }
    let noop = imap.run("a3", "NOOP").await;
    assert_eq!(noop[0], "* 1 EXPUNGE\r\n", "{noop:?}");
    let fetch = imap.run("a4", "FETCH 1:* (UID)").await;
    assert_eq!(fetch[0], "* 1 FETCH (UID 2)\r\n", "{fetch:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_namespace_and_enable() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let mut c = Client::connect(&server).await;
    let id = c.run("a1", "ID (\"name\" \"test\")").await;
    assert_eq!(id[0], "* ID (\"name\" \"Tern\" \"vendor\" \"Tern\")\r\n");
    assert!(last(&c.run("a2", "NAMESPACE").await).starts_with("a2 BAD"));
    c.run(
        "a3",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    let ns = c.run("a4", "NAMESPACE").await;
    assert_eq!(ns[0], "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
    let enable = c.run("a5", "ENABLE CONDSTORE").await;
    assert_eq!(enable[0], "* ENABLED CONDSTORE\r\n");
    assert!(last(&enable).starts_with("a5 OK"));
    let enable = c.run("a6", "ENABLE X-UNKNOWN").await;
    assert_eq!(enable[0], "* ENABLED\r\n", "nothing asked for is known");
}

/// RFC 9208 QUOTA: the account's limit as the quota root "", in KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_of_an_account_with_and_without_a_limit() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let hash = tern_auth::hash_password(
        &tern_auth::Secret::new(TEST_PASSWORD),
        tern_auth::HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
    )
    .unwrap();
    server
        .stores()
        .directory
        .add_account(
            &tern_types::Address::parse("bob@example.test").unwrap(),
            &hash,
            10 * 1024 * 1024,
        )
        .await
        .unwrap();
    let mut c = Client::connect(&server).await;
    c.run("a1", &format!("LOGIN bob@example.test \"{TEST_PASSWORD}\""))
        .await;
    c.send("a2 APPEND INBOX {21+}\r\nSubject: x\r\n\r\nhello\r\n\r\n")
        .await;
    let appended = c.until("a2").await;
    assert!(
        last(&appended).starts_with("a2 OK [APPENDUID"),
        "{appended:?}"
    );
    let root = c.run("a3", "GETQUOTAROOT INBOX").await;
    assert_eq!(root[0], "* QUOTAROOT \"INBOX\" \"\"\r\n", "{root:?}");
    assert!(root[1].starts_with("* QUOTA \"\" (STORAGE "), "{root:?}");
    assert!(root[1].ends_with(" 10240)\r\n"), "{root:?}");
    let quota = c.run("a4", "GETQUOTA \"\"").await;
    assert_eq!(quota[0], root[1]);
    assert!(last(&c.run("a5", "SETQUOTA \"\" (STORAGE 1)").await).starts_with("a5 NO [NOPERM]"));
    let mut c = Client::connect(&server).await;
    c.run(
        "b1",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    let root = c.run("b2", "GETQUOTAROOT INBOX").await;
    assert_eq!(
        root[0], "* QUOTAROOT \"INBOX\"\r\n",
        "no limit, no root: {root:?}"
    );
    assert!(last(&c.run("b3", "GETQUOTA \"\"").await).starts_with("b3 NO [NONEXISTENT]"));
}

/// RFC 7162 CONDSTORE: HIGHESTMODSEQ on SELECT and in STATUS, FETCH MODSEQ and CHANGEDSINCE,
/// STORE UNCHANGEDSINCE (MODIFIED), SEARCH MODSEQ, and MODSEQ in other sessions' updates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condstore() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages = vec![
        b"Subject: one\r\n\r\n1\r\n".to_vec(),
        b"Subject: two\r\n\r\n2\r\n".to_vec(),
    ];
    crate::deliver_to_alice(&server, &messages).await;
    let login = format!("LOGIN alice@example.test \"{TEST_PASSWORD}\"");
    let mut c = Client::connect(&server).await;
    c.run("a1", &login).await;
    let select = c.run("a2", "SELECT INBOX (CONDSTORE)").await;
    let highest_line = select
        .iter()
        .find(|l| l.starts_with("* OK [HIGHESTMODSEQ "))
        .unwrap_or_else(|| panic!("{select:?}"))
        .clone();
    let highest: u64 = highest_line["* OK [HIGHESTMODSEQ ".len()..]
        .split(']')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let fetch = c.run("a3", "FETCH 1:* (FLAGS MODSEQ)").await;
    assert!(fetch[0].contains("MODSEQ ("), "{fetch:?}");
    let store = c.run("a4", "STORE 1 +FLAGS (\\Seen)").await;
    assert!(
        store[0].contains("MODSEQ ("),
        "after CONDSTORE, STORE answers with MODSEQ: {store:?}"
    );
    let changed = c
        .run("a5", &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"))
        .await;
    assert_eq!(changed.len(), 2, "only message 1 changed: {changed:?}");
    assert!(
        changed[0].starts_with("* 1 FETCH") && changed[0].contains("MODSEQ"),
        "{changed:?}"
    );
    let conditional = c
        .run(
            "a6",
            &format!("STORE 1,2 (UNCHANGEDSINCE {highest}) +FLAGS (\\Flagged)"),
        )
        .await;
    assert!(
        last(&conditional).starts_with("a6 OK [MODIFIED 1]"),
        "{conditional:?}"
    );
    let search = c.run("a7", &format!("SEARCH MODSEQ {}", highest + 1)).await;
    assert!(
        search[0].starts_with("* SEARCH 1 2 (MODSEQ ")
            || search[0].starts_with("* SEARCH 1 (MODSEQ "),
        "{search:?}"
    );
    let status = c
        .run("a8", "STATUS INBOX (HIGHESTMODSEQ MESSAGES SIZE)")
        .await;
    assert!(status[0].contains("HIGHESTMODSEQ "), "{status:?}");
    assert!(
        status[0].contains("MESSAGES 2 SIZE "),
        "RFC 8438 SIZE: {status:?}"
    );
    let caps = c.run("a9", "CAPABILITY").await;
    assert!(caps[0].contains("CONDSTORE"));
    let mut other = Client::connect(&server).await;
    other.run("b1", &login).await;
    other.run("b2", "SELECT INBOX").await;
    other.run("b3", "STORE 2 +FLAGS (\\Answered)").await;
    let noop = c.run("a10", "NOOP").await;
    assert!(
        noop.iter()
            .any(|l| l.starts_with("* 2 FETCH (FLAGS") && l.contains("MODSEQ (")),
        "{noop:?}"
    );
}

/// Per-account limits, counted after login: sessions (`imap.max_sessions_per_user`) and
/// IDLEs (`imap.max_idle_per_user`), given back when a session ends or an IDLE is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_idles_per_user_are_limited() {
    let server =
        TestServer::start_with("[imap]\nmax_sessions_per_user = 2\nmax_idle_per_user = 1\n").await;
    server.add_user("alice@example.test").await;
    let login = format!("LOGIN alice@example.test \"{TEST_PASSWORD}\"");
    let mut first = Client::connect(&server).await;
    assert!(last(&first.run("a1", &login).await).starts_with("a1 OK"));
    let mut second = Client::connect(&server).await;
    assert!(last(&second.run("b1", &login).await).starts_with("b1 OK"));
    let mut third = Client::connect(&server).await;
    let refused = third.run("c1", &login).await;
    assert!(last(&refused).starts_with("c1 NO [LIMIT]"), "{refused:?}");
    first.send("a2 IDLE\r\n").await;
    assert_eq!(first.line().await, "+ idling\r\n");
    let idle = second.run("b2", "IDLE").await;
    assert!(last(&idle).starts_with("b2 NO [LIMIT]"), "{idle:?}");
    first.send("DONE\r\n").await;
    first.until("a2").await;
    second.send("b3 IDLE\r\n").await;
    assert_eq!(
        second.line().await,
        "+ idling\r\n",
        "the first IDLE's slot came back"
    );
    second.send("DONE\r\n").await;
    second.until("b3").await;
    first.run("a3", "LOGOUT").await;
    // The logged-out session's slot is back (its connection ends just after LOGOUT).
    let mut retry = None;
    for _ in 0..50 {
        let mut c = Client::connect(&server).await;
        if last(&c.run("d1", &login).await).starts_with("d1 OK") {
            retry = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(retry.is_some(), "a session slot came back after LOGOUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_nesting_is_refused_before_parsing() {
    let server = TestServer::start_with("[imap]\nmax_nesting = 3\n").await;
    server.add_user("alice@example.test").await;
    let mut c = Client::connect(&server).await;
    c.run(
        "a1",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    c.run("a2", "SELECT INBOX").await;
    let ok = c.run("a3", "SEARCH NOT (OR (SEEN) (FLAGGED))").await;
    assert!(last(&ok).starts_with("a3 OK"), "{ok:?}");
    let deep = c.run("a4", "SEARCH ((((SEEN))))").await;
    assert!(last(&deep).starts_with("a4 BAD Parentheses"), "{deep:?}");
    assert!(
        last(&c.run("a5", "NOOP").await).starts_with("a5 OK"),
        "the session goes on"
    );
}

/// RFC 5256 SORT (and RFC 5957 DISPLAYFROM) from the sort keys stored at delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_orders_by_the_stored_keys() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = [
        "From: Zed <aaron@remote.example>\r\nSubject: Re: beta\r\nDate: Wed, 4 Nov 2026 10:00:00 +0000\r\n\r\nx\r\n",
        "From: Bob <bob@remote.example>\r\nSubject: alpha\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nlonger body here\r\n",
        "From: Amy <carl@remote.example>\r\nSubject: Gamma\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\n\r\ny\r\n",
    ]
    .iter()
    .map(|m| m.as_bytes().to_vec())
    .collect();
    crate::deliver_to_alice(&server, &messages).await;
    let mut c = Client::connect(&server).await;
    c.run(
        "a1",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    c.run("a2", "SELECT INBOX").await;
    assert_eq!(
        c.run("b1", "SORT (DATE) UTF-8 ALL").await[0],
        "* SORT 2 3 1\r\n"
    );
    assert_eq!(
        c.run("b2", "SORT (REVERSE DATE) UTF-8 ALL").await[0],
        "* SORT 1 3 2\r\n"
    );
    assert_eq!(
        c.run("b3", "SORT (SUBJECT) UTF-8 ALL").await[0],
        "* SORT 2 1 3\r\n",
        "base subjects alpha, beta, gamma"
    );
    assert_eq!(
        c.run("b4", "SORT (FROM) UTF-8 ALL").await[0],
        "* SORT 1 2 3\r\n",
        "aaron, bob, carl"
    );
    assert_eq!(
        c.run("b5", "SORT (DISPLAYFROM) UTF-8 ALL").await[0],
        "* SORT 3 2 1\r\n",
        "Amy, Bob, Zed"
    );
    assert_eq!(
        c.run("b6", "SORT (SIZE) UTF-8 ALL").await[0],
        "* SORT 3 1 2\r\n"
    );
    assert_eq!(
        c.run("b7", "SORT (ARRIVAL) UTF-8 SUBJECT a").await[0],
        "* SORT 1 2 3\r\n"
    );
    assert_eq!(
        c.run("b8", "UID SORT (DATE) UTF-8 UID 1:2").await[0],
        "* SORT 2 1\r\n"
    );
    assert!(c.run("b9", "CAPABILITY").await[0].contains("SORT=DISPLAY"));
}

/// RFC 5256 THREAD=ORDEREDSUBJECT: grouped by base subject, the first of each group by date
/// the parent of the rest, groups by their first dates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_by_ordered_subject() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = [
        ("Plans", "Tue, 3 Nov 2026 10:00:00 +0000"),
        ("Re: Plans", "Thu, 5 Nov 2026 10:00:00 +0000"),
        ("Lunch", "Mon, 2 Nov 2026 10:00:00 +0000"),
        ("Fwd: plans", "Wed, 4 Nov 2026 10:00:00 +0000"),
        ("Re: Lunch", "Fri, 6 Nov 2026 10:00:00 +0000"),
        ("Alone", "Sat, 7 Nov 2026 10:00:00 +0000"),
    ]
    .iter()
    .map(|(subject, date)| format!("Subject: {subject}\r\nDate: {date}\r\n\r\nx\r\n").into_bytes())
    .collect();
    crate::deliver_to_alice(&server, &messages).await;
    let mut c = Client::connect(&server).await;
    c.run(
        "a1",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    c.run("a2", "SELECT INBOX").await;
    let thread = c.run("a3", "THREAD ORDEREDSUBJECT UTF-8 ALL").await;
    assert_eq!(thread[0], "* THREAD (3 5)(1 (4)(2))(6)\r\n", "{thread:?}");
    let none = c
        .run("a4", "THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing")
        .await;
    assert_eq!(none[0], "* THREAD\r\n");
}

/// RFC 3516 BINARY: a leaf part decoded from base64 or quoted-printable (NULs in a literal8),
/// BINARY.SIZE from the stored record, partial fetches, and UNKNOWN-CTE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_fetches_decode_parts() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let message = b"Subject: binary\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db caf=C3=A9\r\n--b\r\n\
Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--b\r\n\
Content-Type: application/x-odd\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b--\r\n";
    crate::deliver_to_alice(&server, &[message.to_vec()]).await;
    let stream = TcpStream::connect(server.addr(Protocol::Imap))
        .await
        .unwrap();
    let mut c = Client {
        lines: BufReader::new(stream),
    };
    c.line().await;
    c.run(
        "a1",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    c.run("a2", "SELECT INBOX").await;
    c.send("a3 FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])\r\n")
        .await;
    let raw = c.until_raw("a3").await;
    let expected: &[u8] = b"* 1 FETCH (BINARY[2] ~{4}\r\n\x00\x01\x02\xff BINARY.SIZE[2] 4)\r\n";
    assert!(
        raw.starts_with(expected),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    let qp = c.run("a4", "FETCH 1 (BINARY.PEEK[1]<2.5>)").await.concat();
    assert!(qp.contains("BINARY[1]<2> ~{5}\r\nb caf)"), "{qp}");
    let odd = c.run("a5", "FETCH 1 (BINARY.PEEK[3])").await;
    assert!(last(&odd).starts_with("a5 NO [UNKNOWN-CTE]"), "{odd:?}");
    let flags = c.run("a6", "FETCH 1 (FLAGS)").await.concat();
    assert!(!flags.contains("\\Seen"), "{flags}");
}

/// RFC 9051 §4.3 for messages that came over SMTP with NUL octets (DATA and BDAT store what
/// they got): BODY[] and its sections send each NUL as 0x80, at the same length, from small
/// messages read in batches and large ones streamed alike; BINARY[] (a literal8) gives the
/// octets as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_octets_from_smtp_reach_literals_as_0x80() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let small = b"Subject: a\0b\r\n\r\nx\0y\r\n".to_vec();
    // Past the size sent from one batched read (`conn.rs`, SMALL_RANGE): streamed.
    let mut large = b"Subject: large\r\n\r\n".to_vec();
    for _ in 0..5000 {
        large.extend_from_slice(b"a line of text with a NUL: \0 and more after it .....\r\n");
    }
    let stored = crate::deliver_to_alice(&server, &[small.clone(), large.clone()]).await;
    let mut c = Client::logged_in(&server).await;
    c.run("a1", "SELECT INBOX").await;
    for (n, (sent, stored)) in [&small, &large].into_iter().zip(&stored).enumerate() {
        let number = n + 1;
        // The stored message is what was sent after the trace fields.
        assert!(stored.ends_with(sent));
        assert!(stored.contains(&0));
        c.send(&format!("b{number} FETCH {number} (BODY.PEEK[])\r\n"))
            .await;
        let raw = c.until_raw(&format!("b{number}")).await;
        let masked: Vec<u8> = stored
            .iter()
            .map(|&b| if b == 0 { 0x80 } else { b })
            .collect();
        let mut expected =
            format!("* {number} FETCH (BODY[] {{{}}}\r\n", stored.len()).into_bytes();
        expected.extend_from_slice(&masked);
        assert!(
            raw.starts_with(&expected),
            "{:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(300)])
        );
        c.send(&format!("c{number} FETCH {number} (BINARY.PEEK[])\r\n"))
            .await;
        let raw = c.until_raw(&format!("c{number}")).await;
        let mut expected =
            format!("* {number} FETCH (BINARY[] ~{{{}}}\r\n", stored.len()).into_bytes();
        expected.extend_from_slice(stored);
        assert!(raw.starts_with(&expected), "BINARY[] of message {number}");
    }
    c.send("d1 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<1.2>)\r\n")
        .await;
    let raw = c.until_raw("d1").await;
    let expected: &[u8] =
        b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: a\x80b\r\n\r\n \
BODY[TEXT]<1> {2}\r\n\x80y)\r\n";
    assert!(
        raw.starts_with(expected),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
}

/// RFC 5256 THREAD=REFERENCES: links from Message-ID and References (In-Reply-To without
/// them), an empty container for a missing parent, roots of one base subject gathered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_by_references() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let message = |id: &str, links: &str, subject: &str, day: u32| {
        format!(
            "Message-ID: <{id}@x.test>\r\n{links}Subject: {subject}\r\n\
             Date: {day} Nov 2026 10:00:00 +0000\r\n\r\nx\r\n"
        )
        .into_bytes()
    };
    let messages = vec![
        message("a", "", "Plan", 1),
        message("b", "References: <a@x.test>\r\n", "Re: Plan", 2),
        message("c", "References: <a@x.test> <b@x.test>\r\n", "Re: Plan", 4),
        message("d", "In-Reply-To: <a@x.test>\r\n", "Re: Plan", 3),
        message("e", "References: <missing@x.test>\r\n", "Other", 5),
        message("f", "References: <missing@x.test>\r\n", "Re: Other", 6),
        message("g", "", "Re: Lone", 7),
        message("h", "", "Lone", 8),
    ];
    crate::deliver_to_alice(&server, &messages).await;
    let mut c = Client::connect(&server).await;
    c.run(
        "a1",
        &format!("LOGIN alice@example.test \"{TEST_PASSWORD}\""),
    )
    .await;
    c.run("a2", "SELECT INBOX").await;
    let thread = c.run("a3", "THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(
        thread[0], "* THREAD (1 (2 3)(4))((5)(6))(8 7)\r\n",
        "{thread:?}"
    );
    let part = c.run("a4", "UID THREAD REFERENCES UTF-8 UID 1:4").await;
    assert_eq!(part[0], "* THREAD (1 (2 3)(4))\r\n", "{part:?}");
    assert!(c.run("a5", "CAPABILITY").await[0].contains("THREAD=REFERENCES"));
}

/// A FETCH larger than the socket buffers, over TLS, to a client that reads slowly: the
/// whole message and the tagged OK arrive, byte for byte, through writes that keep finding
/// the socket full. (That every write is flushed out of TLS's buffer is proved
/// deterministically in `tern_net::io`'s tests; here it depends on timing.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_fetch_over_tls_reaches_a_slow_reader_whole() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let mut message = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..120_000 {
        message.extend_from_slice(format!("line {i:08} {}\r\n", "z".repeat(80)).as_bytes());
    }
    let stored = crate::deliver_to_alice(&server, &[message]).await;
    let size = stored[0].len();
    assert!(size > 10_000_000, "larger than the socket buffers: {size}");

    let connector = tern_testkit::tls_connector(&server.config.data_dir.join("tls/cert.pem"));
    // A small receive buffer, as on a slow link: without it loopback autotuning takes the
    // whole answer into the kernel and the server never meets a full socket.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let tcp = socket.connect(server.addr(Protocol::Imaps)).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("mx.test").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let commands = format!(
        "a1 LOGIN alice@example.test \"{TEST_PASSWORD}\"\r\na2 SELECT INBOX\r\na3 FETCH 1 BODY.PEEK[]\r\n"
    );
    tls.write_all(commands.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // Not a timing assertion: a hang detector, far beyond what the transfer needs.
    let read_all = async {
        loop {
            let tail = &answer[answer.len().saturating_sub(256)..];
            if let Some(at) = tail.windows(5).position(|w| w == b"\r\na3 ") {
                if tail[at + 2..].ends_with(b"\r\n") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed after {} octets", answer.len());
            answer.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read_all)
        .await
        .unwrap_or_else(|_| panic!("the answer stalled after {} octets", answer.len()));
    let text = String::from_utf8_lossy(&answer);
    let tail = text.rsplit("\r\n").nth(1).unwrap_or_default();
    assert!(tail.starts_with("a3 OK"), "{tail}");
    let marker = format!("BODY[] {{{size}}}\r\n");
    let head = &answer[..answer.len().min(16 * 1024)];
    let at = head
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap_or_else(|| panic!("no literal of {size} octets"))
        + marker.len();
    assert!(answer[at..at + size] == stored[0][..], "byte for byte");
}

/// `imap.max_keywords`: a mailbox holds that many keywords at most, and one appended message
/// too; past it, NO [LIMIT] and nothing changes. Keywords already there can still be set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keywords_are_limited() {
    let server = TestServer::start_with("[imap]\nmax_keywords = 3\n").await;
    server.add_user("alice@example.test").await;
    crate::deliver_to_alice(&server, &[b"Subject: a\r\n\r\na\r\n".to_vec()]).await;
    let mut c = Client::logged_in(&server).await;
    c.run("a1", "SELECT INBOX").await;
    assert!(last(&c.run("a2", "STORE 1 +FLAGS (k1 k2 k3)").await).starts_with("a2 OK"));
    let refused = c.run("a3", "STORE 1 +FLAGS (k4)").await;
    assert!(last(&refused).starts_with("a3 NO [LIMIT]"), "{refused:?}");
    assert!(last(&c.run("a4", "STORE 1 FLAGS (k1 \\Seen)").await).starts_with("a4 OK"));
    let flags = c.run("a5", "FETCH 1 FLAGS").await;
    assert!(!flags[0].contains("k4"), "{flags:?}");
    let message = "Subject: b\r\n\r\nb\r\n";
    c.send(&format!(
        "a6 APPEND INBOX (w x y z) {{{}+}}\r\n{message}\r\n",
        message.len()
    ))
    .await;
    assert!(last(&c.until("a6").await).starts_with("a6 NO [LIMIT]"));
    let status = c.run("a7", "STATUS INBOX (MESSAGES)").await;
    assert!(status[0].contains("MESSAGES 1"), "{status:?}");
}

/// `store.max_mailboxes_per_account` and `store.max_subscriptions_per_account`: CREATE (its
/// superiors too), RENAME of INBOX and SUBSCRIBE of a new name get `NO [LIMIT]` at the limit
/// and change nothing; what is already there can still be renamed, subscribed again, and
/// room made by DELETE or UNSUBSCRIBE is usable at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_and_subscriptions_per_account_are_limited() {
    let server = TestServer::start_with(
        "[store]\nmax_mailboxes_per_account = 10\nmax_subscriptions_per_account = 8\n",
    )
    .await;
    server.add_user("alice@example.test").await;
    let mut c = Client::logged_in(&server).await;
    // The account starts with six mailboxes, all subscribed.
    for n in 1..=3 {
        let created = c.run(&format!("a{n}"), &format!("CREATE m{n}")).await;
        assert!(last(&created).contains(" OK "), "{created:?}");
    }
    // Room for one more: a name needing a superior is refused as a whole.
    let refused = c.run("b1", "CREATE deep/er").await;
    assert!(last(&refused).starts_with("b1 NO [LIMIT]"), "{refused:?}");
    assert!(last(&c.run("b2", "CREATE m4").await).contains(" OK "));
    let refused = c.run("b3", "CREATE m5").await;
    assert!(last(&refused).starts_with("b3 NO [LIMIT]"), "{refused:?}");
    // A name that exists is answered as such, at the limit too.
    let exists = c.run("b3x", "CREATE m1").await;
    assert!(
        last(&exists).starts_with("b3x NO [ALREADYEXISTS]"),
        "{exists:?}"
    );
    let refused = c.run("b4", "RENAME INBOX old-inbox").await;
    assert!(last(&refused).starts_with("b4 NO [LIMIT]"), "{refused:?}");
    assert!(last(&c.run("b5", "RENAME m4 renamed").await).contains(" OK "));
    let list = c.run("b6", "LIST \"\" *").await;
    assert_eq!(list.len(), 11, "ten mailboxes and the OK: {list:?}");
    assert!(!list.concat().contains("m5") && !list.concat().contains("old-inbox"));
    assert!(last(&c.run("b7", "DELETE renamed").await).contains(" OK "));
    assert!(last(&c.run("b8", "CREATE m5").await).contains(" OK "));

    assert!(last(&c.run("c1", "SUBSCRIBE m1").await).contains(" OK "));
    assert!(last(&c.run("c2", "SUBSCRIBE not-yet").await).contains(" OK "));
    let refused = c.run("c3", "SUBSCRIBE m2").await;
    assert!(last(&refused).starts_with("c3 NO [LIMIT]"), "{refused:?}");
    assert!(
        last(&c.run("c4", "SUBSCRIBE m1").await).contains(" OK "),
        "already there"
    );
    let lsub = c.run("c5", "LSUB \"\" *").await;
    assert_eq!(lsub.len(), 9, "eight subscriptions and the OK: {lsub:?}");
    assert!(last(&c.run("c6", "UNSUBSCRIBE not-yet").await).contains(" OK "));
    assert!(last(&c.run("c7", "SUBSCRIBE m2").await).contains(" OK "));
}

/// An APPEND into the selected mailbox is announced in its own answer: EXISTS, and FLAGS when
/// it brings a new keyword, whether or not another session changed the mailbox meanwhile
/// (then that change is announced too); nothing is announced twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_into_the_selected_mailbox_is_announced_once() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    crate::deliver_to_alice(&server, &[b"Subject: a\r\n\r\na\r\n".to_vec()]).await;
    let mut c = Client::logged_in(&server).await;
    c.run("a1", "SELECT INBOX").await;
    let append = |tag: &'static str, flags: &'static str| {
        let message = "Subject: b\r\n\r\nb\r\n";
        format!(
            "{tag} APPEND INBOX ({flags}) {{{}+}}\r\n{message}\r\n",
            message.len()
        )
    };
    c.send(&append("a2", "$Work")).await;
    let first = c.until("a2").await;
    assert!(last(&first).starts_with("a2 OK [APPENDUID"), "{first:?}");
    assert!(
        first.iter().any(|l| l.starts_with("* 2 EXISTS")),
        "{first:?}"
    );
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("* FLAGS (") && l.contains("$Work")),
        "a new keyword is announced: {first:?}"
    );
    // Another session flags message 1; the next APPEND's answer tells of both.
    let mut other = Client::logged_in(&server).await;
    other.run("o1", "SELECT INBOX").await;
    other.run("o2", "STORE 1 +FLAGS (\\Flagged)").await;
    c.send(&append("a3", "\\Seen")).await;
    let second = c.until("a3").await;
    assert!(
        second.iter().any(|l| l.starts_with("* 3 EXISTS")),
        "{second:?}"
    );
    assert!(
        second
            .iter()
            .any(|l| l.starts_with("* 1 FETCH (FLAGS (") && l.contains("\\Flagged")),
        "{second:?}"
    );
    let noop = c.run("a4", "NOOP").await;
    assert_eq!(noop.len(), 1, "nothing new: {noop:?}");
    let all = c.run("a5", "UID SEARCH ALL").await;
    assert_eq!(all[0], "* SEARCH 1 2 3\r\n", "{all:?}");
}

/// A mailbox past `imap.max_keywords` (APPENDs count keywords per message only, and a limit
/// may be lowered) still takes flag changes that bring no new keyword; a new one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_past_the_keyword_limit_still_takes_known_flags() {
    let server = TestServer::start_with("[imap]\nmax_keywords = 3\n").await;
    server.add_user("alice@example.test").await;
    let mut c = Client::logged_in(&server).await;
    let message = "Subject: b\r\n\r\nb\r\n";
    for (tag, flags) in [("a1", "k1 k2 k3"), ("a2", "k4 k5")] {
        c.send(&format!(
            "{tag} APPEND INBOX ({flags}) {{{}+}}\r\n{message}\r\n",
            message.len()
        ))
        .await;
        assert!(last(&c.until(tag).await).starts_with(&format!("{tag} OK")));
    }
    c.run("a3", "SELECT INBOX").await;
    let seen = c.run("a4", "STORE 1:2 +FLAGS (\\Seen k1)").await;
    assert!(last(&seen).starts_with("a4 OK"), "{seen:?}");
    let refused = c.run("a5", "STORE 1 +FLAGS (k6)").await;
    assert!(last(&refused).starts_with("a5 NO [LIMIT]"), "{refused:?}");
}

/// A MULTIAPPEND whose next message would pass what one command may hold is refused with
/// TOOBIG before that message is sent, not after its upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multiappend_too_large_as_a_whole_is_refused_before_the_upload() {
    let server =
        TestServer::start_with("[imap]\nmax_command_size = 10000\nappend_limit = 50000\n").await;
    server.add_user("alice@example.test").await;
    let mut c = Client::logged_in(&server).await;
    c.send("a1 APPEND INBOX {45000}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    let message = format!("Subject: big\r\n\r\n{}", "y".repeat(45000 - 17));
    c.send(&format!("{message} {{45000}}\r\n")).await;
    let reply = c.line().await;
    assert!(reply.starts_with("a1 NO [TOOBIG]"), "{reply}");
    let status = c.run("a2", "STATUS INBOX (MESSAGES)").await;
    assert!(status[0].contains("MESSAGES 0"), "{status:?}");
}
