//! Tern driven by an IMAP client library written independently of it: the async-imap crate,
//! whose parser (imap-proto) reads every answer here. What async-imap has a method for goes
//! through that method; the rest (ENABLE, UNSELECT, SORT, SELECT with QRESYNC, LIST with
//! selection options) through its `run_command` and `read_response`, still parsed by it.
//!
//! imap-proto 0.16 cannot parse `* NAMESPACE`, `* THREAD` or `* ESEARCH` answers at all (its
//! stream fails on them), so those three are left to the raw-socket tests (raw.rs,
//! extended.rs).

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use async_imap::extensions::idle::{Handle, IdleResponse};
use async_imap::imap_proto::types::{
    BodyStructure, ContentEncoding, MailboxDatum, Response, ResponseCode, SectionPath, Status,
};
use async_imap::imap_proto::{AttributeValue, Capability as ProtoCapability};
use async_imap::types::{
    Fetch, Flag, NameAttribute, QuotaResource, QuotaResourceName, UnsolicitedResponse,
};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use tern_config::Protocol;
use tern_testkit::{TestServer, TEST_PASSWORD};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

const ALICE: &str = "alice@example.test";

/// How long any one exchange may take before the test fails instead of hanging: a client and
/// server that disagree on where an answer ends wait on each other for ever.
const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `work`, failing the test if it takes longer than [`LIMIT`].
async fn within<F: Future>(what: &str, work: F) -> F::Output {
    tokio::time::timeout(LIMIT, work)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LIMIT:?}"))
}

/// An async-imap client on the plain loopback listener that has read the greeting, which must
/// be an OK with the capabilities in it (RFC 9051 §7.1.1).
async fn connect(server: &TestServer) -> Client<TcpStream> {
    let tcp = TcpStream::connect(server.addr(Protocol::Imap))
        .await
        .unwrap();
    greeted(Client::new(tcp)).await
}

async fn greeted<T>(mut client: Client<T>) -> Client<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    let greeting = within("greeting", client.read_response())
        .await
        .expect("read the greeting")
        .expect("a greeting");
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok,
            code: Some(ResponseCode::Capabilities(caps)),
            ..
        } => assert!(caps.contains(&ProtoCapability::Imap4rev1), "{caps:?}"),
        other => panic!("greeting: {other:?}"),
    }
    client
}

/// `address` logged in with LOGIN over plain loopback (allowed in the clear there).
async fn login(server: &TestServer, address: &str) -> Session<TcpStream> {
    let client = connect(server).await;
    within("LOGIN", client.login(address, TEST_PASSWORD))
        .await
        .map_err(|(e, _)| e)
        .expect("LOGIN")
}

/// A server with alice and `messages` delivered to her INBOX over SMTP; also their stored form
/// (trace headers added), in UID order.
async fn alice_with(messages: &[&[u8]]) -> (TestServer, Vec<Vec<u8>>) {
    let server = TestServer::start().await;
    server.add_user(ALICE).await;
    let messages: Vec<Vec<u8>> = messages.iter().map(|m| m.to_vec()).collect();
    let stored = if messages.is_empty() {
        Vec::new()
    } else {
        crate::deliver_to_alice(&server, &messages).await
    };
    (server, stored)
}

/// Delivers one message to alice over SMTP without waiting for it to be stored (a session in
/// IDLE is what waits here).
async fn deliver_over_smtp(server: &TestServer, message: &[u8]) {
    tern_testkit::smtp_client::deliver(
        server.addr(Protocol::Smtp),
        "carol@remote.example",
        &[ALICE],
        &[message.to_vec()],
    )
    .await;
}

/// FETCH through async-imap, every answer collected. async-imap's FETCH, STORE and EXPUNGE
/// streams end at the tagged answer whatever its status, so a NO or BAD reads as "nothing":
/// callers check what came back, never only that nothing failed.
async fn fetch<T>(session: &mut Session<T>, set: &str, items: &str) -> Vec<Fetch>
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    within(&format!("FETCH {set} {items}"), async {
        session
            .fetch(set, items)
            .await
            .expect("FETCH sent")
            .try_collect()
            .await
            .expect("FETCH answers")
    })
    .await
}

/// UID FETCH through async-imap, every answer collected.
async fn uid_fetch(session: &mut Session<TcpStream>, set: &str, items: &str) -> Vec<Fetch> {
    within(&format!("UID FETCH {set} {items}"), async {
        session
            .uid_fetch(set, items)
            .await
            .expect("UID FETCH sent")
            .try_collect()
            .await
            .expect("UID FETCH answers")
    })
    .await
}

/// STORE through async-imap: the FETCH answers it returns.
async fn store(session: &mut Session<TcpStream>, set: &str, what: &str) -> Vec<Fetch> {
    within(&format!("STORE {set} {what}"), async {
        session
            .store(set, what)
            .await
            .expect("STORE sent")
            .try_collect()
            .await
            .expect("STORE answers")
    })
    .await
}

/// The UIDs of the selected mailbox, in sequence order.
async fn uids(session: &mut Session<TcpStream>) -> Vec<u32> {
    fetch(session, "1:*", "(UID)")
        .await
        .iter()
        .map(|f| f.uid.expect("UID asked for"))
        .collect()
}

/// The FLAGS of message `seq` as async-imap read them.
async fn flags_of(session: &mut Session<TcpStream>, seq: u32) -> Vec<Flag<'static>> {
    let fetched = fetch(session, &seq.to_string(), "(FLAGS)").await;
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    owned_flags(&fetched[0])
}

fn owned_flags(fetched: &Fetch) -> Vec<Flag<'static>> {
    fetched
        .flags()
        .map(|f| match f {
            Flag::Custom(c) => Flag::Custom(c.into_owned().into()),
            Flag::Seen => Flag::Seen,
            Flag::Answered => Flag::Answered,
            Flag::Flagged => Flag::Flagged,
            Flag::Deleted => Flag::Deleted,
            Flag::Draft => Flag::Draft,
            Flag::Recent => Flag::Recent,
            Flag::MayCreate => Flag::MayCreate,
        })
        .collect()
}

/// What async-imap set aside as unsolicited (EXISTS, EXPUNGE, VANISHED, ENABLED, untagged
/// OK codes) since the last call.
fn unsolicited<T>(session: &mut Session<T>) -> Vec<UnsolicitedResponse>
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    let mut out = Vec::new();
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        out.push(response);
    }
    out
}

/// The unsolicited answers that are EXPUNGE, their sequence numbers.
fn expunged(responses: &[UnsolicitedResponse]) -> Vec<u32> {
    responses
        .iter()
        .filter_map(|r| match r {
            UnsolicitedResponse::Expunge(n) => Some(*n),
            _ => None,
        })
        .collect()
}

/// The UIDs left after removing, one after the other, the messages whose sequence numbers an
/// EXPUNGE answer gave (RFC 9051 §7.5.1: each renumbers the ones after it).
fn after_expunges(mut uids: Vec<u32>, seqs: &[u32]) -> Vec<u32> {
    for &seq in seqs {
        assert!(
            seq >= 1 && seq as usize <= uids.len(),
            "EXPUNGE {seq} of {uids:?}"
        );
        uids.remove(seq as usize - 1);
    }
    uids
}

/// Sends `command` through async-imap and hands each untagged answer, as async-imap's parser
/// read it, to `each`; fails unless the tagged answer is OK. For commands async-imap has no
/// method for.
async fn each_answer<T>(
    session: &mut Session<T>,
    command: &str,
    mut each: impl FnMut(&Response<'_>),
) where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    let tag = session.run_command(command).await.expect("command sent");
    loop {
        let answer = within(command, session.read_response())
            .await
            .unwrap_or_else(|e| panic!("{command}: {e}"))
            .unwrap_or_else(|| panic!("{command}: connection closed"));
        match answer.parsed() {
            Response::Done {
                tag: done,
                status,
                information,
                ..
            } if *done == tag => {
                assert_eq!(*status, Status::Ok, "{command}: {information:?}");
                return;
            }
            other => each(other),
        }
    }
}

/// The next thing the server pushes to a session in IDLE, handed to `read`, within [`LIMIT`].
async fn pushed<T, R>(idle: &mut Handle<T>, read: impl FnOnce(&Response<'_>) -> R) -> R
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    // The stop source ends the wait when dropped, so it lives until the wait is over.
    let (wait, _stop) = idle.wait();
    match within("IDLE push", wait).await.expect("IDLE read") {
        IdleResponse::NewData(data) => read(data.parsed()),
        other => panic!("IDLE ended without news: {other:?}"),
    }
}

/// The FLAGS in a pushed FETCH of message `seq`.
fn pushed_flags(response: &Response<'_>, seq: u32) -> Vec<String> {
    match response {
        Response::Fetch(n, attributes) if *n == seq => attributes
            .iter()
            .find_map(|a| match a {
                AttributeValue::Flags(flags) => Some(flags.iter().map(|f| f.to_string()).collect()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no FLAGS in {attributes:?}")),
        other => panic!("expected FETCH {seq}: {other:?}"),
    }
}

/// LOGIN (refused, then accepted on the same connection), the capabilities in LOGIN's OK and
/// from CAPABILITY, AUTHENTICATE PLAIN through async-imap's `Authenticator`, NOOP, LOGOUT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_authenticate_and_capabilities() {
    let (server, _) = alice_with(&[]).await;
    let client = connect(&server).await;
    let (error, client) = within("LOGIN", client.login(ALICE, "wrong password"))
        .await
        .expect_err("a wrong password is refused");
    assert!(
        matches!(&error, async_imap::error::Error::No(text) if text.contains("AUTHENTICATIONFAILED")),
        "{error:?}"
    );
    let (mut session, caps) = within(
        "LOGIN",
        client.login_with_capabilities(ALICE, TEST_PASSWORD),
    )
    .await
    .map_err(|(e, _)| e)
    .expect("LOGIN after a refusal");
    let caps = caps.expect("RFC 9051 §6.2.3: the OK of LOGIN carries the capabilities");
    assert!(caps.has_str("IMAP4rev1") && caps.has_str("IDLE"));

    let caps = within("CAPABILITY", session.capabilities()).await.unwrap();
    for cap in [
        "IMAP4rev1",
        "IDLE",
        "MOVE",
        "UIDPLUS",
        "UNSELECT",
        "ID",
        "NAMESPACE",
        "ENABLE",
        "QUOTA",
        "CONDSTORE",
        "QRESYNC",
        "ESEARCH",
        "SORT",
        "THREAD=REFERENCES",
        "COMPRESS=DEFLATE",
        "LIST-EXTENDED",
        "SPECIAL-USE",
        "LITERAL+",
    ] {
        assert!(
            caps.has_str(cap),
            "{cap}: {:?}",
            caps.iter().collect::<Vec<_>>()
        );
    }
    // Once logged in, neither STARTTLS nor a SASL mechanism is offered (RFC 9051 §6.2.1).
    assert!(!caps.has_str("STARTTLS") && !caps.has_str("AUTH=PLAIN"));
    within("NOOP", session.noop()).await.unwrap();
    within("LOGOUT", session.logout()).await.unwrap();

    /// SASL PLAIN (RFC 4616): authorization identity empty, then user and password.
    struct Plain(&'static str);
    impl async_imap::Authenticator for Plain {
        type Response = Vec<u8>;
        fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
            assert!(
                challenge.is_empty(),
                "PLAIN has no challenge: {challenge:?}"
            );
            format!("\0{ALICE}\0{}", self.0).into_bytes()
        }
    }
    let client = connect(&server).await;
    let (error, _) = within("AUTHENTICATE", client.authenticate("PLAIN", Plain("wrong")))
        .await
        .expect_err("a wrong password is refused");
    assert!(
        matches!(error, async_imap::error::Error::No(_)),
        "{error:?}"
    );
    let client = connect(&server).await;
    let mut session = within(
        "AUTHENTICATE",
        client.authenticate("PLAIN", Plain(TEST_PASSWORD)),
    )
    .await
    .map_err(|(e, _)| e)
    .expect("AUTHENTICATE PLAIN");
    let inbox = within("SELECT", session.select("INBOX")).await.unwrap();
    assert_eq!(inbox.exists, 0);
}

/// IMAPS (RFC 8314) and STARTTLS (RFC 9051 §6.2.1) under async-imap: after STARTTLS the
/// capabilities no longer offer it, and the session works over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaps_and_starttls() {
    let (server, _) = alice_with(&[b"Subject: over TLS\r\n\r\nsecret\r\n"]).await;
    let name = rustls_pki_types::ServerName::try_from("mx.test").unwrap();

    let tcp = TcpStream::connect(server.addr(Protocol::Imaps))
        .await
        .unwrap();
    let tls = within("TLS", server.tls_connector().connect(name.clone(), tcp))
        .await
        .expect("IMAPS handshake");
    let client = greeted(Client::new(tls)).await;
    let mut session = within("LOGIN", client.login(ALICE, TEST_PASSWORD))
        .await
        .map_err(|(e, _)| e)
        .expect("LOGIN over IMAPS");
    assert_eq!(session.select("INBOX").await.unwrap().exists, 1);
    let body = fetch(&mut session, "1", "BODY.PEEK[TEXT]").await;
    assert_eq!(body[0].text(), Some(&b"secret\r\n"[..]));
    within("LOGOUT", session.logout()).await.unwrap();

    let mut client = connect(&server).await;
    within(
        "STARTTLS",
        client.run_command_and_check_ok("STARTTLS", None),
    )
    .await
    .expect("STARTTLS");
    let tls = within(
        "TLS",
        server.tls_connector().connect(name, client.into_inner()),
    )
    .await
    .expect("STARTTLS handshake");
    let client = Client::new(tls);
    let (mut session, caps) = within(
        "LOGIN",
        client.login_with_capabilities(ALICE, TEST_PASSWORD),
    )
    .await
    .map_err(|(e, _)| e)
    .expect("LOGIN after STARTTLS");
    assert!(caps.is_some_and(|c| c.has_str("IDLE")));
    let caps = within("CAPABILITY", session.capabilities()).await.unwrap();
    assert!(!caps.has_str("STARTTLS"), "TLS is on already");
    assert_eq!(session.select("INBOX").await.unwrap().exists, 1);
}

/// LIST with the special-use attributes, CREATE (with a missing parent, and of a name with a
/// space), RENAME, SUBSCRIBE/UNSUBSCRIBE seen in LSUB, DELETE, and the refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_are_listed_created_renamed_subscribed_and_deleted() {
    let (server, _) = alice_with(&[]).await;
    let mut s = login(&server, ALICE).await;

    async fn list(s: &mut Session<TcpStream>, pattern: &str) -> Vec<(String, Vec<String>)> {
        within(&format!("LIST {pattern}"), async {
            let names: Vec<_> = s
                .list(Some(""), Some(pattern))
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            names
                .iter()
                .map(|n| {
                    assert_eq!(n.delimiter(), Some("/"), "{n:?}");
                    let attributes = n.attributes().iter().map(|a| format!("{a:?}")).collect();
                    (n.name().to_string(), attributes)
                })
                .collect()
        })
        .await
    }
    async fn lsub(s: &mut Session<TcpStream>) -> Vec<String> {
        within("LSUB", async {
            let names: Vec<_> = s
                .lsub(Some(""), Some("*"))
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            names.iter().map(|n| n.name().to_string()).collect()
        })
        .await
    }

    let all = list(&mut s, "*").await;
    let attributes_of = |all: &[(String, Vec<String>)], name: &str| {
        all.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} in {all:?}"))
            .1
            .clone()
    };
    for (name, special) in [
        ("Sent", NameAttribute::Sent),
        ("Drafts", NameAttribute::Drafts),
        ("Trash", NameAttribute::Trash),
        ("Junk", NameAttribute::Junk),
        ("Archive", NameAttribute::Archive),
    ] {
        let attributes = attributes_of(&all, name);
        assert!(
            attributes.contains(&format!("{special:?}")),
            "{name}: {attributes:?}"
        );
    }
    attributes_of(&all, "INBOX");

    within("CREATE", s.create("Projects/2026")).await.unwrap();
    let exists = within("CREATE", s.create("Projects")).await;
    assert!(
        matches!(&exists, Err(async_imap::error::Error::No(t)) if t.contains("ALREADYEXISTS")),
        "the parent was made with the child: {exists:?}"
    );
    let projects = list(&mut s, "Projects").await;
    assert_eq!(projects.len(), 1, "{projects:?}");
    assert!(
        projects[0].1.iter().any(|a| a.contains("HasChildren")),
        "RFC 3348 CHILDREN: {projects:?}"
    );
    within("RENAME", s.rename("Projects/2026", "Projects/Done"))
        .await
        .unwrap();
    let children: Vec<String> = list(&mut s, "Projects/*")
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(children, ["Projects/Done"]);

    within("SUBSCRIBE", s.subscribe("Projects/Done"))
        .await
        .unwrap();
    assert!(lsub(&mut s).await.contains(&"Projects/Done".to_string()));
    within("UNSUBSCRIBE", s.unsubscribe("Projects/Done"))
        .await
        .unwrap();
    assert!(!lsub(&mut s).await.contains(&"Projects/Done".to_string()));

    // async-imap quotes names: one with a space is created, listed and selected as such.
    within("CREATE", s.create("Old Mail")).await.unwrap();
    assert_eq!(list(&mut s, "Old*").await[0].0, "Old Mail");
    assert_eq!(
        within("SELECT", s.select("Old Mail")).await.unwrap().exists,
        0
    );

    within("DELETE", s.delete("Projects/Done")).await.unwrap();
    assert!(list(&mut s, "Projects/*").await.is_empty());
    assert!(
        within("DELETE", s.delete("INBOX")).await.is_err(),
        "RFC 9051 §6.3.5: INBOX cannot be deleted"
    );
    assert!(within("DELETE", s.delete("Nowhere")).await.is_err());
    assert!(within("RENAME", s.rename("Nowhere", "Elsewhere"))
        .await
        .is_err());
}

/// SELECT, EXAMINE and STATUS agree on the counts, UIDVALIDITY and UIDNEXT; SELECT with
/// CONDSTORE reports HIGHESTMODSEQ; EXAMINE is read-only; CHECK, UNSELECT and CLOSE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_examine_and_status_agree() {
    let (server, _) =
        alice_with(&[b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"]).await;
    let mut s = login(&server, ALICE).await;

    let status = within(
        "STATUS",
        s.status(
            "INBOX",
            "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)",
        ),
    )
    .await
    .unwrap();
    assert_eq!(status.exists, 2);
    assert_eq!(status.uid_next, Some(3));
    assert_eq!(status.unseen, Some(2));
    let uid_validity = status.uid_validity.expect("UIDVALIDITY asked for");
    let highest = status.highest_modseq.expect("HIGHESTMODSEQ asked for");
    assert!(highest > 0);

    let inbox = within("SELECT", s.select("INBOX")).await.unwrap();
    assert_eq!(inbox.exists, 2);
    assert_eq!(inbox.uid_next, Some(3));
    assert_eq!(inbox.uid_validity, Some(uid_validity));
    for flag in [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Draft,
    ] {
        assert!(inbox.flags.contains(&flag), "{flag:?}: {:?}", inbox.flags);
        assert!(
            inbox.permanent_flags.contains(&flag),
            "{flag:?}: {:?}",
            inbox.permanent_flags
        );
    }
    assert!(
        inbox.permanent_flags.contains(&Flag::MayCreate),
        "keywords can be made: {:?}",
        inbox.permanent_flags
    );
    within("CHECK", s.check()).await.unwrap();
    within("UNSELECT", s.run_command_and_check_ok("UNSELECT"))
        .await
        .unwrap();
    assert!(
        within("FETCH", s.run_command_and_check_ok("FETCH 1 (FLAGS)"))
            .await
            .is_err(),
        "nothing is selected after UNSELECT"
    );

    let examined = within("EXAMINE", s.examine("INBOX")).await.unwrap();
    assert_eq!(
        (examined.exists, examined.uid_next, examined.uid_validity),
        (2, Some(3), Some(uid_validity))
    );
    assert!(
        within(
            "STORE",
            s.run_command_and_check_ok("STORE 1 +FLAGS (\\Flagged)")
        )
        .await
        .is_err(),
        "EXAMINE selects read-only"
    );

    let condstore = within("SELECT", s.select_condstore("INBOX")).await.unwrap();
    assert_eq!(condstore.highest_modseq, Some(highest));
    assert_eq!(condstore.exists, 2);
    within("CLOSE", s.close()).await.unwrap();

    let missing = within("SELECT", s.select("Nowhere")).await;
    assert!(
        matches!(&missing, Err(async_imap::error::Error::No(t)) if t.contains("NONEXISTENT")),
        "{missing:?}"
    );
}

/// APPEND with flags and an internal date, fetched back byte for byte with its flags, size,
/// UID and date; APPEND to a missing mailbox is refused with TRYCREATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_with_flags_is_fetched_back_byte_identical() {
    let (server, _) = alice_with(&[]).await;
    let mut s = login(&server, ALICE).await;
    let message = "From: Alice <alice@example.test>\r\nTo: Carol <carol@remote.example>\r\n\
Subject: Entwurf – Grüße\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\nLiebe Carol,\r\n\r\nbis bald. ☺\r\n.\r\n..\r\nAlice\r\n"
        .as_bytes();
    within(
        "APPEND",
        s.append(
            "Drafts",
            Some("(\\Draft $Pending)"),
            Some("\"30-Nov-2026 12:34:56 +0100\""),
            message,
        ),
    )
    .await
    .expect("APPEND");

    let drafts = within("SELECT", s.select("Drafts")).await.unwrap();
    assert_eq!(drafts.exists, 1);
    let fetched = fetch(
        &mut s,
        "1",
        "(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])",
    )
    .await;
    assert_eq!(fetched.len(), 1);
    let m = &fetched[0];
    assert_eq!(m.message, 1);
    assert_eq!(m.uid, Some(1));
    assert_eq!(m.size, Some(message.len() as u32));
    assert_eq!(m.body(), Some(message), "byte for byte");
    let flags = owned_flags(m);
    assert!(flags.contains(&Flag::Draft), "{flags:?}");
    assert!(
        flags.contains(&Flag::Custom("$Pending".into())),
        "{flags:?}"
    );
    assert!(!flags.contains(&Flag::Seen), "BODY.PEEK[] sets nothing");
    // The same moment; the zone it is written in is the server's to choose (RFC 9051 §2.3.3).
    assert_eq!(
        m.internal_date().expect("INTERNALDATE").timestamp(),
        1_796_038_496,
        "30-Nov-2026 12:34:56 +0100"
    );
    let by_uid = uid_fetch(&mut s, "1", "(BODY.PEEK[])").await;
    assert_eq!(by_uid[0].body(), Some(message));
    assert_eq!(by_uid[0].uid, Some(1), "UID FETCH answers carry the UID");

    let refused = within(
        "APPEND",
        s.append("Nowhere", None, None, &b"Subject: x\r\n\r\nx\r\n"[..]),
    )
    .await;
    assert!(
        matches!(&refused, Err(async_imap::error::Error::No(t)) if t.contains("TryCreate")),
        "{refused:?}"
    );
}

/// RFC 9051 §6.3.12: APPEND to the selected mailbox "SHOULD notify the client immediately via
/// an untagged EXISTS response", so that a client (async-imap has no NOOP of its own after
/// APPEND) sees its own message at once; §5.2: size changes observed while a command runs
/// MUST be announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_to_the_selected_mailbox_announces_exists() {
    let (server, _) = alice_with(&[b"Subject: one\r\n\r\n1\r\n"]).await;
    let mut s = login(&server, ALICE).await;
    assert_eq!(within("SELECT", s.select("INBOX")).await.unwrap().exists, 1);
    unsolicited(&mut s);
    within(
        "APPEND",
        s.append("INBOX", None, None, &b"Subject: two\r\n\r\n2\r\n"[..]),
    )
    .await
    .unwrap();
    // Both messages are \Recent to this session: the first since SELECT, the second since
    // the session learnt of it (RFC 3501 §2.3.2, §7.3.2).
    assert_eq!(
        unsolicited(&mut s),
        [
            UnsolicitedResponse::Exists(2),
            UnsolicitedResponse::Recent(2)
        ],
        "an untagged EXISTS with APPEND's answer"
    );
    assert_eq!(uids(&mut s).await, [1, 2], "no NOOP needed");
}

const MULTIPART: &[u8] = b"From: Carol Example <carol@remote.example>\r\n\
To: Alice <alice@example.test>\r\nCc: dave@remote.example\r\nSubject: Quarterly numbers\r\n\
Date: Mon, 30 Nov 2026 12:00:00 +0000\r\nMessage-ID: <q3@remote.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\nThis is a MIME message.\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
Numbers attached.\r\nCarol\r\n\r\n\
--b1\r\nContent-Type: application/pdf; name=\"q3.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"q3.pdf\"\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--b1--\r\n";

/// ENVELOPE and BODYSTRUCTURE as async-imap parses them, of a multipart/mixed message with a
/// text part and an attachment; BODY.PEEK[HEADER], BODY.PEEK[TEXT], BODY.PEEK[2.MIME] and
/// BODY[1] byte for byte, with \Seen set by BODY[1] only; RFC822.SIZE and MODSEQ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_bodystructure_and_sections_parse() {
    let (server, stored) = alice_with(&[MULTIPART]).await;
    let stored = &stored[0];
    let split = stored
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header")
        + 4;
    let mut s = login(&server, ALICE).await;
    within("SELECT", s.select("INBOX")).await.unwrap();

    let fetched = fetch(&mut s, "1", "(ENVELOPE BODYSTRUCTURE RFC822.SIZE)").await;
    let m = &fetched[0];
    assert_eq!(m.size, Some(stored.len() as u32));
    let envelope = m.envelope().expect("ENVELOPE");
    assert_eq!(envelope.subject.as_deref(), Some(&b"Quarterly numbers"[..]));
    assert_eq!(
        envelope.date.as_deref(),
        Some(&b"Mon, 30 Nov 2026 12:00:00 +0000"[..])
    );
    assert_eq!(
        envelope.message_id.as_deref(),
        Some(&b"<q3@remote.example>"[..])
    );
    let address = |list: &Option<Vec<async_imap::imap_proto::types::Address<'_>>>| {
        let list = list.as_ref().expect("addresses");
        assert_eq!(list.len(), 1, "{list:?}");
        let a = &list[0];
        (
            a.name
                .as_deref()
                .map(|n| String::from_utf8_lossy(n).into_owned()),
            format!(
                "{}@{}",
                String::from_utf8_lossy(a.mailbox.as_deref().unwrap_or_default()),
                String::from_utf8_lossy(a.host.as_deref().unwrap_or_default())
            ),
        )
    };
    let carol = (
        Some("Carol Example".to_string()),
        "carol@remote.example".to_string(),
    );
    assert_eq!(address(&envelope.from), carol);
    // RFC 9051 §7.5.2: sender and reply-to default to from.
    assert_eq!(address(&envelope.sender), carol);
    assert_eq!(address(&envelope.reply_to), carol);
    assert_eq!(
        address(&envelope.to),
        (Some("Alice".to_string()), "alice@example.test".to_string())
    );
    assert_eq!(
        address(&envelope.cc),
        (None, "dave@remote.example".to_string())
    );
    assert!(envelope.bcc.is_none() && envelope.in_reply_to.is_none());

    let Some(BodyStructure::Multipart { common, bodies, .. }) = m.bodystructure() else {
        panic!("multipart: {:?}", m.bodystructure());
    };
    assert!(common.ty.ty.eq_ignore_ascii_case("multipart"), "{common:?}");
    assert!(
        common.ty.subtype.eq_ignore_ascii_case("mixed"),
        "{common:?}"
    );
    let params = common.ty.params.as_ref().expect("parameters");
    assert!(
        params
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("boundary") && v == "b1"),
        "{params:?}"
    );
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let BodyStructure::Text {
        common,
        other,
        lines,
        ..
    } = &bodies[0]
    else {
        panic!("text/plain first: {:?}", bodies[0]);
    };
    assert!(
        common.ty.subtype.eq_ignore_ascii_case("plain"),
        "{common:?}"
    );
    assert!(
        common.ty.params.as_ref().is_some_and(|p| p
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("charset") && v.eq_ignore_ascii_case("utf-8"))),
        "{common:?}"
    );
    assert_eq!(other.transfer_encoding, ContentEncoding::EightBit);
    let text = b"Numbers attached.\r\nCarol\r\n";
    assert_eq!(other.octets as usize, text.len());
    assert_eq!(*lines, 2);
    let BodyStructure::Basic { common, other, .. } = &bodies[1] else {
        panic!("application/pdf second: {:?}", bodies[1]);
    };
    assert!(
        common.ty.ty.eq_ignore_ascii_case("application")
            && common.ty.subtype.eq_ignore_ascii_case("pdf"),
        "{common:?}"
    );
    assert_eq!(other.transfer_encoding, ContentEncoding::Base64);
    assert_eq!(other.octets as usize, b"JVBERi0xLjQKJcfsj6IK".len());
    let disposition = common
        .disposition
        .as_ref()
        .expect("RFC 9051 §7.5.2: the disposition is in BODYSTRUCTURE's extension data");
    assert!(disposition.ty.eq_ignore_ascii_case("attachment"));
    assert!(
        disposition.params.as_ref().is_some_and(|p| p
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("filename") && v == "q3.pdf")),
        "{disposition:?}"
    );

    let sections = fetch(
        &mut s,
        "1",
        "(BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[2.MIME] BODY.PEEK[2])",
    )
    .await;
    let m = &sections[0];
    assert_eq!(m.header(), Some(&stored[..split]));
    assert_eq!(m.text(), Some(&stored[split..]));
    assert_eq!(
        m.section(&SectionPath::Part(
            vec![2],
            Some(async_imap::imap_proto::types::MessageSection::Mime)
        )),
        Some(
            &b"Content-Type: application/pdf; name=\"q3.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"q3.pdf\"\r\n\r\n"[..]
        )
    );
    assert_eq!(
        m.section(&SectionPath::Part(vec![2], None)),
        Some(&b"JVBERi0xLjQKJcfsj6IK"[..])
    );
    assert!(
        !flags_of(&mut s, 1).await.contains(&Flag::Seen),
        "PEEK sets nothing"
    );

    let part = fetch(&mut s, "1", "(BODY[1])").await;
    let part_one = part
        .iter()
        .find_map(|f| f.section(&SectionPath::Part(vec![1], None)))
        .expect("BODY[1]");
    assert_eq!(part_one, text);
    assert!(
        flags_of(&mut s, 1).await.contains(&Flag::Seen),
        "BODY[1] sets \\Seen"
    );

    // FETCH MODSEQ turns CONDSTORE on (RFC 7162 §3.1): async-imap reads the MODSEQ item.
    let modseq = fetch(&mut s, "1", "(UID MODSEQ)").await;
    assert!(modseq[0].modseq.is_some_and(|m| m > 0), "{modseq:?}");
}

/// STORE +FLAGS/-FLAGS/FLAGS and .SILENT with the FETCH answers async-imap returns, UID STORE
/// with the UID in its answers; SEARCH and UID SEARCH on flags, keywords, headers and bodies;
/// SORT and UID SORT (RFC 5256) as async-imap parses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_search_and_sort() {
    let (server, _) = alice_with(&[
        b"From: Carol <carol@remote.example>\r\nSubject: Quarterly report\r\n\r\nThe numbers are in.\r\n",
        b"From: Dave <dave@remote.example>\r\nSubject: Lunch\r\n\r\nPizza at noon?\r\n",
        b"From: Carol <carol@remote.example>\r\nSubject: Re: Lunch\r\n\r\nYes, pizza.\r\n",
    ])
    .await;
    let mut s = login(&server, ALICE).await;
    within("SELECT", s.select("INBOX")).await.unwrap();

    let added = store(&mut s, "1:2", "+FLAGS (\\Flagged $Important)").await;
    let mut seqs: Vec<u32> = added.iter().map(|f| f.message).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2], "{added:?}");
    for f in &added {
        let flags = owned_flags(f);
        assert!(
            flags.contains(&Flag::Flagged) && flags.contains(&Flag::Custom("$Important".into())),
            "{flags:?}"
        );
    }
    let removed = store(&mut s, "2", "-FLAGS (\\Flagged)").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(
        owned_flags(&removed[0]),
        [Flag::Custom("$Important".into()), Flag::Recent],
        "what is left"
    );
    assert!(
        store(&mut s, "3", "+FLAGS.SILENT (\\Seen)")
            .await
            .is_empty(),
        "RFC 9051 §6.4.6: .SILENT answers with no FETCH"
    );
    assert_eq!(flags_of(&mut s, 3).await, [Flag::Seen, Flag::Recent]);
    let by_uid: Vec<Fetch> = within("UID STORE", async {
        s.uid_store("3", "FLAGS (\\Answered)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(by_uid.len(), 1);
    assert_eq!(by_uid[0].uid, Some(3), "UID STORE answers carry the UID");
    // \Recent is the session's, not a stored flag: FLAGS does not replace it.
    assert_eq!(
        owned_flags(&by_uid[0]),
        [Flag::Answered, Flag::Recent],
        "FLAGS replaces"
    );

    async fn search(s: &mut Session<TcpStream>, query: &str) -> Vec<u32> {
        let mut found: Vec<u32> = within(query, s.search(query))
            .await
            .unwrap()
            .into_iter()
            .collect();
        found.sort_unstable();
        found
    }
    assert_eq!(search(&mut s, "ALL").await, [1, 2, 3]);
    assert_eq!(search(&mut s, "FLAGGED").await, [1]);
    assert_eq!(search(&mut s, "KEYWORD $Important").await, [1, 2]);
    assert_eq!(search(&mut s, "OR ANSWERED FLAGGED").await, [1, 3]);
    assert_eq!(search(&mut s, "UNANSWERED").await, [1, 2]);
    assert_eq!(
        search(&mut s, "UNSEEN").await,
        [1, 2, 3],
        "FLAGS replaced \\Seen"
    );
    assert_eq!(search(&mut s, "FROM carol").await, [1, 3]);
    assert_eq!(search(&mut s, "SUBJECT lunch").await, [2, 3]);
    assert_eq!(search(&mut s, "BODY pizza").await, [2, 3]);
    assert_eq!(search(&mut s, "NOT FROM carol").await, [2]);
    assert!(search(&mut s, "SUBJECT nowhere").await.is_empty());
    let mut uids: Vec<u32> = within("UID SEARCH", s.uid_search("UID 2:3 NOT ANSWERED"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    uids.sort_unstable();
    assert_eq!(uids, [2]);

    // Base subjects "quarterly report", "lunch", "lunch": ties in order of arrival.
    let mut sorted = Vec::new();
    each_answer(&mut s, "SORT (SUBJECT) UTF-8 ALL", |r| match r {
        Response::MailboxData(MailboxDatum::Sort(seqs)) => sorted.push(seqs.clone()),
        other => panic!("{other:?}"),
    })
    .await;
    assert_eq!(sorted, [vec![2, 3, 1]]);
    let mut sorted = Vec::new();
    // From mailboxes carol, dave, carol: dave first, then the tie in ascending order
    // (RFC 5256 §3: REVERSE turns the key, not the tie-break).
    each_answer(&mut s, "UID SORT (REVERSE FROM) UTF-8 ALL", |r| {
        if let Response::MailboxData(MailboxDatum::Sort(uids)) = r {
            sorted.push(uids.clone())
        }
    })
    .await;
    assert_eq!(sorted, [vec![2, 1, 3]]);
}

/// COPY and UID COPY leave the source alone; MOVE and UID MOVE (RFC 6851) expunge it, and
/// async-imap hands the EXPUNGE over as unsolicited; the moved message arrives whole; a COPY
/// to a missing mailbox is refused with TRYCREATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_move_and_uid_move() {
    let (server, stored) = alice_with(&[
        b"Subject: one\r\n\r\n1\r\n",
        b"Subject: two\r\n\r\n2\r\n",
        b"Subject: three\r\n\r\n3\r\n",
    ])
    .await;
    let mut s = login(&server, ALICE).await;
    within("SELECT", s.select("INBOX")).await.unwrap();
    async fn messages_in(s: &mut Session<TcpStream>, mailbox: &str) -> u32 {
        within("STATUS", s.status(mailbox, "(MESSAGES)"))
            .await
            .unwrap()
            .exists
    }

    within("COPY", s.copy("1", "Archive")).await.unwrap();
    within("UID COPY", s.uid_copy("2:3", "Archive"))
        .await
        .unwrap();
    assert_eq!(messages_in(&mut s, "Archive").await, 3);
    assert_eq!(messages_in(&mut s, "INBOX").await, 3);
    unsolicited(&mut s);

    within("MOVE", s.mv("1", "Trash")).await.unwrap();
    assert_eq!(
        expunged(&unsolicited(&mut s)),
        [1],
        "MOVE expunges the source"
    );
    assert_eq!(uids(&mut s).await, [2, 3]);
    within("UID MOVE", s.uid_mv("3", "Junk")).await.unwrap();
    assert_eq!(expunged(&unsolicited(&mut s)), [2], "UID 3 was message 2");
    assert_eq!(uids(&mut s).await, [2]);

    let refused = within("COPY", s.copy("1", "Nowhere")).await;
    assert!(
        matches!(&refused, Err(async_imap::error::Error::No(t)) if t.contains("TryCreate")),
        "{refused:?}"
    );

    for (mailbox, original) in [("Trash", &stored[0]), ("Junk", &stored[2])] {
        assert_eq!(within("SELECT", s.select(mailbox)).await.unwrap().exists, 1);
        let moved = fetch(&mut s, "1", "(BODY.PEEK[])").await;
        assert_eq!(moved[0].body(), Some(&original[..]), "{mailbox}");
    }
    within("SELECT", s.select("Archive")).await.unwrap();
    let copies = fetch(&mut s, "1:*", "(BODY.PEEK[])").await;
    let bodies: Vec<&[u8]> = copies.iter().map(|f| f.body().unwrap()).collect();
    let originals: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
    assert_eq!(bodies, originals);
}

/// EXPUNGE and UID EXPUNGE (RFC 4315) through async-imap: the sequence numbers they return,
/// applied in order, leave exactly the messages that were not removed; UID EXPUNGE leaves a
/// \Deleted message outside its set; CLOSE expunges silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunge_and_uid_expunge_return_sequence_numbers() {
    let messages: Vec<Vec<u8>> = (1..=5)
        .map(|i| format!("Subject: m{i}\r\n\r\n{i}\r\n").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let (server, _) = alice_with(&refs).await;
    let mut s = login(&server, ALICE).await;
    within("SELECT", s.select("INBOX")).await.unwrap();

    store(&mut s, "2,4", "+FLAGS.SILENT (\\Deleted)").await;
    let seqs: Vec<u32> = within("EXPUNGE", async {
        s.expunge().await.unwrap().try_collect().await.unwrap()
    })
    .await;
    assert_eq!(seqs.len(), 2, "{seqs:?}");
    assert_eq!(after_expunges(vec![1, 2, 3, 4, 5], &seqs), [1, 3, 5]);
    assert_eq!(uids(&mut s).await, [1, 3, 5]);

    let _: Vec<Fetch> = within("UID STORE", async {
        s.uid_store("1,3,5", "+FLAGS.SILENT (\\Deleted)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    })
    .await;
    let seqs: Vec<u32> = within("UID EXPUNGE", async {
        s.uid_expunge("2:5")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(seqs.len(), 2, "{seqs:?}");
    assert_eq!(after_expunges(vec![1, 3, 5], &seqs), [1]);
    assert_eq!(uids(&mut s).await, [1], "UID 1 was outside the set");
    assert!(flags_of(&mut s, 1).await.contains(&Flag::Deleted));

    within("CLOSE", s.close()).await.unwrap();
    let status = within("STATUS", s.status("INBOX", "(MESSAGES)"))
        .await
        .unwrap();
    assert_eq!(status.exists, 0, "CLOSE expunged the \\Deleted message");
}

/// RFC 2177 IDLE under async-imap's `Handle`: a session in IDLE is woken by a delivery over
/// SMTP (EXISTS), and by a second async-imap session's STORE (FETCH FLAGS), EXPUNGE and
/// APPEND; after DONE the session goes on with the same numbering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_wakes_on_smtp_delivery_and_on_another_session() {
    let (server, _) = alice_with(&[b"Subject: first\r\n\r\n1\r\n"]).await;
    let mut other = login(&server, ALICE).await;
    within("SELECT", other.select("INBOX")).await.unwrap();
    let mut idler = login(&server, ALICE).await;
    within("SELECT", idler.select("INBOX")).await.unwrap();
    let mut idle = idler.idle();
    within("IDLE", idle.init()).await.expect("IDLE accepted");

    deliver_over_smtp(&server, b"Subject: second\r\n\r\n2\r\n").await;
    pushed(&mut idle, |r| {
        assert_eq!(*r, Response::MailboxData(MailboxDatum::Exists(2)))
    })
    .await;
    // RFC 3501 §7.3.2: RECENT follows EXISTS (its count depends on which session took the
    // new message as recent first).
    pushed(&mut idle, |r| {
        assert!(
            matches!(r, Response::MailboxData(MailboxDatum::Recent(_))),
            "{r:?}"
        )
    })
    .await;

    store(&mut other, "1", "+FLAGS (\\Flagged)").await;
    let flags = pushed(&mut idle, |r| pushed_flags(r, 1)).await;
    assert_eq!(flags, ["\\Flagged"]);
    store(&mut other, "1", "+FLAGS.SILENT (\\Deleted)").await;
    let mut flags = pushed(&mut idle, |r| pushed_flags(r, 1)).await;
    flags.sort_unstable();
    assert_eq!(flags, ["\\Deleted", "\\Flagged"]);
    let seqs: Vec<u32> = within("EXPUNGE", async {
        other.expunge().await.unwrap().try_collect().await.unwrap()
    })
    .await;
    assert_eq!(seqs, [1]);
    pushed(&mut idle, |r| assert_eq!(*r, Response::Expunge(1))).await;

    within(
        "APPEND",
        other.append("INBOX", None, None, &b"Subject: third\r\n\r\n3\r\n"[..]),
    )
    .await
    .unwrap();
    pushed(&mut idle, |r| {
        assert_eq!(*r, Response::MailboxData(MailboxDatum::Exists(2)))
    })
    .await;

    let mut idler = within("DONE", idle.done()).await.expect("DONE");
    within("NOOP", idler.noop()).await.unwrap();
    assert_eq!(uids(&mut idler).await, [2, 3]);
    // The appending session is told of its own message on NOOP at the latest (see
    // `append_to_the_selected_mailbox_announces_exists` for the immediate EXISTS).
    within("NOOP", other.noop()).await.unwrap();
    assert_eq!(uids(&mut other).await, [2, 3]);
}

/// RFC 4978 COMPRESS=DEFLATE through async-imap's `compress`: a large message comes back
/// whole through the compressed stream, and an IDLE push is flushed through it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_deflate_carries_fetches_and_idle_pushes() {
    let mut large = b"Subject: large\r\n\r\n".to_vec();
    for i in 0..3000 {
        large.extend_from_slice(format!("line {i} of a long message, {}\r\n", i * 7919).as_bytes());
    }
    let (server, stored) = alice_with(&[&large]).await;
    let s = login(&server, ALICE).await;
    let mut s = within("COMPRESS", s.compress(|stream| stream))
        .await
        .expect("COMPRESS DEFLATE");
    assert_eq!(within("SELECT", s.select("INBOX")).await.unwrap().exists, 1);
    let fetched = fetch(&mut s, "1", "(RFC822.SIZE BODY.PEEK[])").await;
    assert_eq!(fetched[0].body(), Some(&stored[0][..]));
    assert_eq!(fetched[0].size, Some(stored[0].len() as u32));

    let mut idle = s.idle();
    within("IDLE", idle.init()).await.expect("IDLE accepted");
    deliver_over_smtp(&server, b"Subject: small\r\n\r\nsmall\r\n").await;
    pushed(&mut idle, |r| {
        assert_eq!(*r, Response::MailboxData(MailboxDatum::Exists(2)))
    })
    .await;
    let mut s = within("DONE", idle.done()).await.expect("DONE");
    let status = within("STATUS", s.status("INBOX", "(MESSAGES)"))
        .await
        .unwrap();
    assert_eq!(status.exists, 2);
    within("LOGOUT", s.logout()).await.unwrap();
}

/// A POP3 session's DELE reaches an async-imap session of the same mailbox as EXPUNGE on
/// NOOP (one store, one change log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_deletions_reach_an_async_imap_session() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let (server, _) =
        alice_with(&[b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"]).await;
    let mut s = login(&server, ALICE).await;
    assert_eq!(within("SELECT", s.select("INBOX")).await.unwrap().exists, 2);

    let pop3 = TcpStream::connect(server.addr(Protocol::Pop3))
        .await
        .unwrap();
    let mut pop3 = BufReader::new(pop3);
    let mut line = String::new();
    within("POP3 greeting", pop3.read_line(&mut line))
        .await
        .unwrap();
    for command in [
        format!("USER {ALICE}"),
        format!("PASS {TEST_PASSWORD}"),
        "DELE 1".to_string(),
        "QUIT".to_string(),
    ] {
        pop3.get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        line.clear();
        within(&command, pop3.read_line(&mut line)).await.unwrap();
        assert!(line.starts_with("+OK"), "{command}: {line}");
    }

    within("NOOP", s.noop()).await.unwrap();
    assert_eq!(expunged(&unsolicited(&mut s)), [1]);
    assert_eq!(uids(&mut s).await, [2]);
}

/// RFC 9208 GETQUOTAROOT and GETQUOTA (an account with a limit, one without), RFC 2971 ID
/// with fields and with NIL, RFC 5161 ENABLE with the ENABLED answer as async-imap reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_id_and_enable() {
    let (server, _) = alice_with(&[]).await;
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
    let mut bob = login(&server, "bob@example.test").await;
    let mut message = b"Subject: x\r\n\r\n".to_vec();
    message.resize(5000, b'x');
    within("APPEND", bob.append("INBOX", None, None, &message))
        .await
        .unwrap();
    let (roots, quotas) = within("GETQUOTAROOT", bob.get_quota_root("INBOX"))
        .await
        .unwrap();
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!(roots[0].mailbox_name, "INBOX");
    assert_eq!(roots[0].quota_root_names, [""]);
    assert_eq!(quotas.len(), 1, "{quotas:?}");
    assert_eq!(quotas[0].root_name, "");
    let [QuotaResource {
        name: QuotaResourceName::Storage,
        usage,
        limit: 10240,
    }] = quotas[0].resources[..]
    else {
        panic!("STORAGE in KiB: {quotas:?}");
    };
    assert!((4..=5).contains(&usage), "5000 bytes used: {usage}");
    let quota = within("GETQUOTA", bob.get_quota("")).await.unwrap();
    assert_eq!(quota, quotas[0]);

    let mut alice = login(&server, ALICE).await;
    let (roots, quotas) = within("GETQUOTAROOT", alice.get_quota_root("INBOX"))
        .await
        .unwrap();
    assert_eq!(roots.len(), 1);
    assert!(roots[0].quota_root_names.is_empty(), "no limit, no root");
    assert!(quotas.is_empty(), "{quotas:?}");

    let id = within(
        "ID",
        alice.id([("name", Some("async-imap")), ("version", Some("0.11"))]),
    )
    .await
    .unwrap()
    .expect("the server identifies itself");
    assert_eq!(id.get("name").map(String::as_str), Some("Tern"), "{id:?}");
    let id = within("ID", alice.id_nil()).await.unwrap();
    assert_eq!(
        id.as_ref()
            .and_then(|id| id.get("name"))
            .map(String::as_str),
        Some("Tern")
    );

    unsolicited(&mut alice);
    within("ENABLE", alice.run_command_and_check_ok("ENABLE CONDSTORE"))
        .await
        .unwrap();
    // imap-proto reads `* ENABLED …` as a list of capabilities.
    let enabled: Vec<String> = unsolicited(&mut alice)
        .iter()
        .map(|r| match r {
            UnsolicitedResponse::Other(data) => match data.parsed() {
                Response::Capabilities(caps) => format!("ENABLED {caps:?}"),
                other => format!("{other:?}"),
            },
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(enabled, ["ENABLED [Atom(\"CONDSTORE\")]"]);
}

/// RFC 7162 QRESYNC as async-imap reads it: with it enabled, UID EXPUNGE answers VANISHED
/// (not EXPUNGE), STORE answers carry MODSEQ, UID FETCH (CHANGEDSINCE … VANISHED) answers
/// VANISHED (EARLIER) and the changed flags, and SELECT (QRESYNC …) in a new session does the
/// same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qresync_vanished_and_changedsince() {
    let (server, _) = alice_with(&[
        b"Subject: one\r\n\r\n1\r\n",
        b"Subject: two\r\n\r\n2\r\n",
        b"Subject: three\r\n\r\n3\r\n",
    ])
    .await;
    let mut s = login(&server, ALICE).await;
    within("ENABLE", s.run_command_and_check_ok("ENABLE QRESYNC"))
        .await
        .unwrap();
    let inbox = within("SELECT", s.select("INBOX")).await.unwrap();
    let uid_validity = inbox.uid_validity.expect("UIDVALIDITY");
    let known = inbox
        .highest_modseq
        .expect("RFC 7162 §3.1.2.1: HIGHESTMODSEQ on SELECT once enabled");
    unsolicited(&mut s);

    let changed = store(&mut s, "2", "+FLAGS (\\Seen)").await;
    assert!(
        changed[0].modseq.is_some_and(|m| m > known),
        "STORE answers carry MODSEQ: {changed:?}"
    );
    store(&mut s, "1", "+FLAGS.SILENT (\\Deleted)").await;
    let seqs: Vec<u32> = within("UID EXPUNGE", async {
        s.uid_expunge("1")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    })
    .await;
    assert!(seqs.is_empty(), "VANISHED instead of EXPUNGE: {seqs:?}");
    let vanished: Vec<String> = unsolicited(&mut s)
        .iter()
        .filter_map(|r| match r {
            UnsolicitedResponse::Other(data) => match data.parsed() {
                Response::Vanished { earlier, uids } => Some(format!("{earlier} {uids:?}")),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(vanished, ["false [1..=1]"]);

    let since = uid_fetch(
        &mut s,
        "1:*",
        &format!("(FLAGS) (CHANGEDSINCE {known} VANISHED)"),
    )
    .await;
    let changed: Vec<(Option<u32>, Vec<Flag<'static>>)> =
        since.iter().map(|f| (f.uid, owned_flags(f))).collect();
    assert_eq!(changed, [(Some(2), vec![Flag::Seen, Flag::Recent])]);
    let earlier: Vec<String> = unsolicited(&mut s)
        .iter()
        .filter_map(|r| match r {
            UnsolicitedResponse::Other(data) => match data.parsed() {
                Response::Vanished { earlier, uids } => Some(format!("{earlier} {uids:?}")),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(earlier, ["true [1..=1]"]);

    let mut fresh = login(&server, ALICE).await;
    within("ENABLE", fresh.run_command_and_check_ok("ENABLE QRESYNC"))
        .await
        .unwrap();
    let mut vanished = Vec::new();
    let mut flags = Vec::new();
    let mut exists = None;
    each_answer(
        &mut fresh,
        &format!("SELECT INBOX (QRESYNC ({uid_validity} {known}))"),
        |r| match r {
            Response::Vanished { earlier, uids } => vanished.push((*earlier, uids.clone())),
            Response::MailboxData(MailboxDatum::Exists(n)) => exists = Some(*n),
            Response::Fetch(seq, attributes) => flags.push((*seq, format!("{attributes:?}"))),
            _ => {}
        },
    )
    .await;
    assert_eq!(exists, Some(2));
    assert_eq!(vanished, [(true, vec![1..=1])]);
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0].0, 1, "UID 2 is message 1 now");
    assert!(
        flags[0].1.contains("Uid(2)") && flags[0].1.contains("\\\\Seen"),
        "{flags:?}"
    );
}

/// RFC 5258 LIST-EXTENDED through async-imap: RFC 5819 RETURN (STATUS …) after the pattern
/// (its STATUS answers reach async-imap's unsolicited channel), and the SPECIAL-USE selection
/// option of RFC 6154.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_extended_with_status_and_special_use() {
    let (server, _) = alice_with(&[b"Subject: one\r\n\r\n1\r\n"]).await;
    let mut s = login(&server, ALICE).await;
    within("CREATE", s.create("Projects")).await.unwrap();
    unsolicited(&mut s);

    let names: Vec<String> = within("LIST RETURN", async {
        let names: Vec<_> = s
            .list(Some(""), Some("\"*\" RETURN (STATUS (MESSAGES UNSEEN))"))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        names.iter().map(|n| n.name().to_string()).collect()
    })
    .await;
    assert!(
        names.contains(&"INBOX".to_string()) && names.contains(&"Projects".to_string()),
        "{names:?}"
    );
    let statuses: Vec<(String, Vec<async_imap::types::StatusAttribute>)> = unsolicited(&mut s)
        .into_iter()
        .filter_map(|r| match r {
            UnsolicitedResponse::Status {
                mailbox,
                attributes,
            } => Some((mailbox, attributes)),
            _ => None,
        })
        .collect();
    let inbox = statuses
        .iter()
        .find(|(m, _)| m == "INBOX")
        .unwrap_or_else(|| panic!("no STATUS of INBOX: {statuses:?}"));
    assert!(
        inbox
            .1
            .contains(&async_imap::types::StatusAttribute::Messages(1))
            && inbox
                .1
                .contains(&async_imap::types::StatusAttribute::Unseen(1)),
        "{inbox:?}"
    );
    assert_eq!(statuses.len(), names.len(), "a STATUS for each mailbox");

    let mut special = Vec::new();
    each_answer(&mut s, "LIST (SPECIAL-USE) \"\" \"*\"", |r| match r {
        Response::MailboxData(MailboxDatum::List {
            name,
            name_attributes,
            ..
        }) => special.push((name.to_string(), format!("{name_attributes:?}"))),
        other => panic!("{other:?}"),
    })
    .await;
    let mut names: Vec<&str> = special.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Archive", "Drafts", "Junk", "Sent", "Trash"]);
    let sent = special.iter().find(|(n, _)| n == "Sent").unwrap();
    assert!(sent.1.contains("Sent"), "{sent:?}");
}
