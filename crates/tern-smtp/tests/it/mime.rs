//! The message layer behind SMTP delivery: every message stored over SMTP has its MIME
//! structure recorded in the delivering commit, and hostile MIME (one bomb per `[mime]`
//! limit) is still accepted and stored whole, with a record cut at the configured limits.

use std::path::Path;

use tern_message::mime::fuzzing::shape;
use tern_message::mime::{analyse, check_layout, MessageMeta, MimeLimits, PartBody};
use tern_store::TextField;
use tern_testkit::{inbox_of, mime_corpus::mime_bombs, smtp_client::deliver, TestServer};
use tern_types::Uid;

use tern_config::Protocol;

const ALICE: &str = "alice@example.test";

/// Delivers `sent` to alice over SMTP and returns their stored records.
async fn deliver_and_read(server: &TestServer, sent: &[Vec<u8>]) -> Vec<MessageMeta> {
    deliver(
        server.addr(Protocol::Smtp),
        "sender@remote.example",
        &[ALICE],
        sent,
    )
    .await;
    records(server, sent).await
}

/// The stored records of alice's messages, with each message as stored (trace prefix
/// removed: the blob is the message as sent, which ends the stored copy).
async fn records(server: &TestServer, sent: &[Vec<u8>]) -> Vec<MessageMeta> {
    let stores = server.stores();
    let inbox = inbox_of(&stores, ALICE).await;
    let stored = server.inbox(ALICE, sent.len()).await;
    assert_eq!(stored.len(), sent.len());
    let mut out = Vec::new();
    for (i, (copy, original)) in stored.iter().zip(sent).enumerate() {
        assert!(copy.ends_with(original), "message {i} was stored changed");
        let meta = stores
            .mailboxes
            .message_meta(inbox.id, Uid(i as u32 + 1))
            .await
            .expect("read")
            .expect("recorded at delivery");
        check_layout(&meta, original).unwrap_or_else(|e| panic!("message {i}: {e}"));
        out.push(meta);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_delivered_over_smtp_is_recorded_as_analysed() {
    let server = TestServer::start().await;
    server.add_user(ALICE).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/messages");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    // SMTP carries lines that end in CRLF (RFC 5321 §2.3.8): the bare-LF sample and the one
    // without a final line break are sent as their client would have to send them.
    let sent: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| tern_message::wire_form(&std::fs::read(p).expect("read")))
        .collect();
    let metas = deliver_and_read(&server, &sent).await;
    for ((meta, original), path) in metas.iter().zip(&sent).zip(&paths) {
        assert_eq!(
            meta,
            &analyse(original, &MimeLimits::default()).meta,
            "{}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mime_bombs_are_stored_whole_with_records_cut_at_the_limits() {
    let server = TestServer::start_with(
        "[mime]\nmax_depth = 8\nmax_parts = 50\nmax_header_fields = 100\nmax_header_bytes = 131072\n\
         max_header_line = 65536\nmax_rfc2231_segments = 8\nmax_decoded_size = 65536\n",
    )
    .await;
    server.add_user(ALICE).await;
    let bombs = mime_bombs(1);
    let sent: Vec<Vec<u8>> = bombs.iter().map(|(_, b)| b.clone()).collect();
    let metas = deliver_and_read(&server, &sent).await;
    let inbox = inbox_of(&server.stores(), ALICE).await;
    for ((name, _), meta) in bombs.iter().zip(&metas) {
        assert!(meta.truncated, "{name}: not flagged");
        let (depth, parts) = shape(&meta.root);
        assert!(depth <= 2 * 8 + 2, "{name}: depth {depth}");
        assert!(parts <= 2 * 50 + 2, "{name}: {parts} parts");
        match *name {
            "header fields" | "header bytes" | "header line" => {
                assert!(
                    meta.root.truncated && meta.root.is("text", "plain"),
                    "{name}"
                )
            }
            "RFC 2231 segments" => {
                let PartBody::Multipart(children) = &meta.root.body else {
                    panic!("{name}: {:?}", meta.root.body)
                };
                let disposition = children[0].disposition.as_ref().expect("disposition");
                // The sections past the limit are not joined in.
                assert_eq!(disposition.params.len(), 1, "{name}");
                assert_eq!(disposition.params[0].value, "A".repeat(8), "{name}");
                assert_eq!(children[0].filename, None, "{name}");
            }
            _ => {}
        }
    }
    // The decoded-size bomb is indexed up to the limit only.
    let search = |term: &'static str| {
        let stores = server.stores();
        async move {
            stores
                .mailboxes
                .search_text(inbox.id, TextField::Body, term)
                .await
                .expect("search")
        }
    };
    let decoded_uid = Uid(bombs.len() as u32);
    assert!(search("lorem ipsum").await.contains(&decoded_uid));
    assert!(!search("finalword").await.contains(&decoded_uid));
}
