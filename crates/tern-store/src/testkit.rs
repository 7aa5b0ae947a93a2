//! The backend conformance suite: every backend runs these same tests.
//!
//! A backend's test file implements [`Backend`] and calls [`conformance_tests!`], which
//! expands to one `#[tokio::test]` per check below.

use std::path::Path;

use async_trait::async_trait;
use tern_types::{Address, Domain, Flag, Flags, ModSeq, Uid};

use crate::{
    AliasSource, ChangeKind, FlagOp, NewMessage, NewQueueMessage, NewRecipient, RecipientPolicy,
    RecipientState, Resolution, Route, StoreError, Stores, TextField,
};

/// Opens a backend's stores on a directory. Opening the same directory again is a restart.
#[async_trait]
pub trait Backend: Sync {
    async fn open(&self, dir: &Path) -> Stores;
}

/// Expands to one test per conformance check, for the backend built by `$make`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            directory_accounts_and_domains, recipient_resolution, case_sensitive_policy,
            append_assigns_uids_and_modseqs, uids_survive_restart, flags_and_modseq,
            expunge_keeps_change_log, expunge_deleted_takes_only_deleted_messages,
            quota_usage_follows_appends_and_expunges,
            append_all_is_all_or_nothing, recent_messages_are_claimed_once,
            change_events_follow_commits, accept_delivers_local_recipients_in_one_commit,
            accept_queues_a_full_mailbox_and_refuses_when_all_are_full,
            queue_keeps_what_was_not_delivered, queue_defer_fail_and_lease, queue_leases_and_reports,
            large_blobs_round_trip, messages_read_in_ranges, records_of_chosen_uids,
            removing_account_cleans_up,
            content_is_recorded_and_searchable, mailbox_operations_for_imap);
    };
    (@each $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $make;
                $crate::testkit::$name(&backend).await;
            }
        )*
    };
}

fn addr(s: &str) -> Address {
    Address::parse(s).expect("test address")
}

async fn with_alice(backend: &dyn Backend, dir: &Path) -> (Stores, tern_types::AccountId) {
    let stores = backend.open(dir).await;
    stores
        .directory
        .add_domain(&Domain::parse("example.org").expect("domain"))
        .await
        .expect("add domain");
    let id = stores
        .directory
        .add_account(&addr("alice@example.org"), "hash-a", 0)
        .await
        .expect("add alice");
    (stores, id)
}

async fn message(stores: &Stores, body: &[u8]) -> NewMessage {
    NewMessage {
        blob: stores.blobs.stage(body.to_vec()).await.expect("stage"),
        prefix: b"Return-Path: <a@b>\r\n".to_vec(),
        flags: Flags::new(),
        internal_date: 1_700_000_000,
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub async fn directory_accounts_and_domains(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, _) = with_alice(backend, dir.path()).await;
    let d = &stores.directory;
    let example = Domain::parse("example.org").unwrap();
    assert!(matches!(
        d.add_domain(&example).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(d.is_local_domain(&example).await.unwrap());
    assert!(!d
        .is_local_domain(&Domain::parse("other.org").unwrap())
        .await
        .unwrap());
    assert!(matches!(
        d.add_account(&addr("ALICE@example.org"), "h", 0).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        d.add_account(&addr("bob@nowhere.org"), "h", 0).await,
        Err(StoreError::NotFound(_))
    ));
    let boxes = stores
        .mailboxes
        .list_mailboxes(d.list_accounts(None).await.unwrap()[0].id)
        .await
        .unwrap();
    let names: Vec<&str> = boxes.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"]
    );
    assert_eq!(boxes[1].special_use, Some(tern_types::SpecialUse::Sent));
    d.set_password(&addr("alice@example.org"), "hash-b")
        .await
        .unwrap();
    let auth = d
        .account_auth(&addr("Alice@EXAMPLE.org"), RecipientPolicy::default())
        .await
        .unwrap()
        .expect("alice by another case");
    assert_eq!(auth.password_hash, "hash-b");
    assert!(matches!(
        d.remove_domain(&example).await,
        Err(StoreError::Invalid(_))
    ));
    d.remove_account(&addr("alice@example.org")).await.unwrap();
    d.remove_domain(&example).await.unwrap();
    assert!(d.list_domains().await.unwrap().is_empty());
}

pub async fn recipient_resolution(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let d = &stores.directory;
    let bob = d
        .add_account(&addr("bob@example.org"), "h", 0)
        .await
        .unwrap();
    let policy = RecipientPolicy::default();
    let ids = |r: Resolution| match r {
        Resolution::Accounts(a) => a.into_iter().map(|a| a.id).collect::<Vec<_>>(),
        other => panic!("expected accounts, got {other:?}"),
    };
    assert_eq!(
        ids(d
            .resolve_recipient(&addr("alice@example.org"), policy)
            .await
            .unwrap()),
        [alice]
    );
    assert_eq!(
        ids(d
            .resolve_recipient(&addr("ALICE@Example.Org"), policy)
            .await
            .unwrap()),
        [alice]
    );
    assert_eq!(
        ids(d
            .resolve_recipient(&addr("alice+news@example.org"), policy)
            .await
            .unwrap()),
        [alice]
    );
    assert_eq!(
        d.resolve_recipient(&addr("carol@example.org"), policy)
            .await
            .unwrap(),
        Resolution::UnknownUser
    );
    assert_eq!(
        d.resolve_recipient(&addr("alice@other.org"), policy)
            .await
            .unwrap(),
        Resolution::NotLocal
    );
    let team: AliasSource = "team@example.org".parse().unwrap();
    d.add_alias(&team, &[addr("alice@example.org"), addr("bob@example.org")])
        .await
        .unwrap();
    assert_eq!(
        ids(d
            .resolve_recipient(&addr("team@example.org"), policy)
            .await
            .unwrap()),
        [alice, bob]
    );
    assert_eq!(
        ids(d
            .resolve_recipient(&addr("team+x@example.org"), policy)
            .await
            .unwrap()),
        [alice, bob]
    );
    assert!(matches!(
        d.add_alias(
            &"x@example.org".parse().unwrap(),
            &[addr("nobody@example.org")]
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        d.add_alias(
            &"alice@example.org".parse().unwrap(),
            &[addr("bob@example.org")]
        )
        .await,
        Err(StoreError::AlreadyExists(_))
    ));
    let catch_all: AliasSource = "@example.org".parse().unwrap();
    d.add_alias(&catch_all, &[addr("bob@example.org")])
        .await
        .unwrap();
    assert_eq!(
        ids(d
            .resolve_recipient(&addr("carol@example.org"), policy)
            .await
            .unwrap()),
        [bob]
    );
    let no_plus = RecipientPolicy {
        detail_separator: None,
        ..policy
    };
    assert_eq!(
        ids(d
            .resolve_recipient(&addr("alice+news@example.org"), no_plus)
            .await
            .unwrap()),
        [bob]
    );
    let aliases = d.list_aliases(None).await.unwrap();
    assert_eq!(aliases.len(), 2);
    assert_eq!(aliases[0].source, catch_all);
    d.remove_alias(&catch_all).await.unwrap();
    assert!(matches!(
        d.remove_alias(&catch_all).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        d.resolve_recipient(&addr("carol@example.org"), policy)
            .await
            .unwrap(),
        Resolution::UnknownUser
    );
}

pub async fn case_sensitive_policy(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let strict = RecipientPolicy {
        case_sensitive: true,
        detail_separator: Some('+'),
    };
    let d = &stores.directory;
    assert_eq!(
        d.resolve_recipient(&addr("Alice@example.org"), strict)
            .await
            .unwrap(),
        Resolution::UnknownUser
    );
    match d
        .resolve_recipient(&addr("alice@example.org"), strict)
        .await
        .unwrap()
    {
        Resolution::Accounts(a) => assert_eq!(a[0].id, alice),
        other => panic!("{other:?}"),
    }
}

pub async fn append_assigns_uids_and_modseqs(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "inbox").await.unwrap();
    let mut last = ModSeq(0);
    for i in 1..=5u32 {
        let m = message(
            &stores,
            format!("Subject: {i}\r\n\r\nbody {i}\r\n").as_bytes(),
        )
        .await;
        let a = stores.mailboxes.append(inbox.id, m).await.unwrap();
        assert_eq!(a.uid, Uid(i));
        assert_eq!(a.uid_validity, inbox.uid_validity);
        assert!(a.modseq > last);
        last = a.modseq;
    }
    let listed = stores.mailboxes.messages(inbox.id, Uid(1)).await.unwrap();
    assert_eq!(listed.len(), 5);
    let body = stores
        .mailboxes
        .read_message(inbox.id, Uid(3))
        .await
        .unwrap();
    assert_eq!(body, b"Return-Path: <a@b>\r\nSubject: 3\r\n\r\nbody 3\r\n");
    assert_eq!(listed[2].size, body.len() as u64);
    // CRLF throughout: what POP3 sends is what is stored.
    let sizes = stores.mailboxes.wire_sizes(inbox.id).await.unwrap();
    assert_eq!(sizes.len(), 5);
    assert_eq!(sizes[2], (Uid(3), listed[2].size));
    let info = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    assert_eq!(
        (info.messages, info.uid_next, info.highest_modseq),
        (5, Uid(6), last)
    );
    let sent = stores.mailboxes.mailbox(alice, "Sent").await.unwrap();
    assert_ne!(sent.uid_validity, inbox.uid_validity);
    // Bare LFs and a last line without a line end count as POP3 will send them.
    let m = message(&stores, b"a\nb\nc").await;
    let lf = stores.mailboxes.append(inbox.id, m).await.unwrap();
    let record = &stores.mailboxes.messages(inbox.id, lf.uid).await.unwrap()[0];
    assert_eq!(record.size, 20 + 5);
    let sizes = stores.mailboxes.wire_sizes(inbox.id).await.unwrap();
    assert_eq!(sizes.last(), Some(&(lf.uid, 20 + 5 + 2 + 2)));
}

pub async fn uids_survive_restart(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    for _ in 0..3 {
        let m = message(&stores, b"x").await;
        stores.mailboxes.append(inbox.id, m).await.unwrap();
    }
    stores.mailboxes.expunge(inbox.id, &[Uid(3)]).await.unwrap();
    drop(stores);
    let stores = backend.open(dir.path()).await;
    let again = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    assert_eq!(again.uid_validity, inbox.uid_validity);
    let m = message(&stores, b"y").await;
    // UID 3 was expunged before the restart and must not come back.
    assert_eq!(
        stores.mailboxes.append(inbox.id, m).await.unwrap().uid,
        Uid(4)
    );
}

pub async fn flags_and_modseq(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    for _ in 0..3 {
        let m = message(&stores, b"x").await;
        stores.mailboxes.append(inbox.id, m).await.unwrap();
    }
    let seen: Flags = [Flag::Seen, Flag::Keyword("$Label1".into())]
        .into_iter()
        .collect();
    let changed = stores
        .mailboxes
        .store_flags(inbox.id, &[Uid(1), Uid(2)], FlagOp::Add, &seen, None)
        .await
        .unwrap();
    assert_eq!(changed.len(), 2);
    let after_add = changed[0].modseq;
    // Setting what is already there changes nothing and takes no MODSEQ.
    let none = stores
        .mailboxes
        .store_flags(inbox.id, &[Uid(1)], FlagOp::Add, &seen, None)
        .await
        .unwrap();
    assert!(none.is_empty());
    // UNCHANGEDSINCE older than the message's MODSEQ leaves it alone.
    let refused = stores
        .mailboxes
        .store_flags(
            inbox.id,
            &[Uid(1)],
            FlagOp::Remove,
            &seen,
            Some(ModSeq(after_add.0 - 1)),
        )
        .await
        .unwrap();
    assert!(refused.is_empty());
    let removed = stores
        .mailboxes
        .store_flags(
            inbox.id,
            &[Uid(1)],
            FlagOp::Remove,
            &[Flag::Seen].into_iter().collect(),
            Some(after_add),
        )
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert!(!removed[0].flags.contains(&Flag::Seen));
    assert!(removed[0].flags.contains(&Flag::Keyword("$Label1".into())));
    let changes = stores
        .mailboxes
        .changes_since(inbox.id, after_add)
        .await
        .unwrap();
    assert_eq!(
        changes.changed.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [Uid(1)]
    );
    let listed = stores.mailboxes.messages(inbox.id, Uid(2)).await.unwrap();
    assert!(listed[0].flags.contains(&Flag::Seen));
    assert!(!listed[1].flags.contains(&Flag::Seen));
}

/// IMAP's EXPUNGE: only messages flagged `\Deleted` go, within the given UIDs when there are
/// some; a message whose flag was taken off stays.
pub async fn expunge_deleted_takes_only_deleted_messages(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    for i in 0..5 {
        let m = message(&stores, format!("m{i}").as_bytes()).await;
        stores.mailboxes.append(inbox.id, m).await.unwrap();
    }
    let deleted: Flags = [Flag::Deleted].into_iter().collect();
    let mark = |uids: Vec<Uid>, op: FlagOp| {
        let (stores, deleted) = (&stores, &deleted);
        async move {
            stores
                .mailboxes
                .store_flags(inbox.id, &uids, op, deleted, None)
                .await
                .unwrap();
        }
    };
    mark(vec![Uid(1), Uid(2), Uid(4), Uid(5)], FlagOp::Add).await;
    mark(vec![Uid(5)], FlagOp::Remove).await;
    let within = [Uid(2), Uid(3), Uid(5)];
    let gone = stores
        .mailboxes
        .expunge_deleted(inbox.id, Some(&within))
        .await
        .unwrap();
    assert_eq!(gone, [Uid(2)], "UID EXPUNGE 2,3,5: only 2 is \\Deleted");
    let gone = stores
        .mailboxes
        .expunge_deleted(inbox.id, Some(&[]))
        .await
        .unwrap();
    assert!(gone.is_empty(), "an empty set expunges nothing: {gone:?}");
    let gone = stores
        .mailboxes
        .expunge_deleted(inbox.id, None)
        .await
        .unwrap();
    assert_eq!(gone, [Uid(1), Uid(4)]);
    let left: Vec<Uid> = stores
        .mailboxes
        .messages(inbox.id, Uid(1))
        .await
        .unwrap()
        .iter()
        .map(|r| r.uid)
        .collect();
    assert_eq!(left, [Uid(3), Uid(5)]);
    let gone = stores
        .mailboxes
        .expunge_deleted(inbox.id, None)
        .await
        .unwrap();
    assert!(gone.is_empty());
}

pub async fn expunge_keeps_change_log(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    for i in 0..4 {
        let m = message(&stores, format!("m{i}").as_bytes()).await;
        stores.mailboxes.append(inbox.id, m).await.unwrap();
    }
    let before = stores
        .mailboxes
        .mailbox(alice, "INBOX")
        .await
        .unwrap()
        .highest_modseq;
    let gone = stores
        .mailboxes
        .expunge(inbox.id, &[Uid(2), Uid(4), Uid(9)])
        .await
        .unwrap();
    assert_eq!(gone, [Uid(2), Uid(4)]);
    let changes = stores
        .mailboxes
        .changes_since(inbox.id, before)
        .await
        .unwrap();
    assert_eq!(changes.expunged, [Uid(2), Uid(4)]);
    assert!(changes.changed.is_empty());
    assert!(changes.highest_modseq > before);
    let all = stores
        .mailboxes
        .changes_since(inbox.id, ModSeq(0))
        .await
        .unwrap();
    assert_eq!(
        all.changed.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [Uid(1), Uid(3)]
    );
    assert!(matches!(
        stores.mailboxes.read_message(inbox.id, Uid(2)).await,
        Err(StoreError::NotFound(_))
    ));
    let info = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    assert_eq!(info.messages, 2);
}

pub async fn quota_usage_follows_appends_and_expunges(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    stores
        .directory
        .set_quota(&addr("alice@example.org"), 100)
        .await
        .unwrap();
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    let m = message(&stores, &[b'a'; 30]).await;
    let size = m.prefix.len() as u64 + 30;
    stores.mailboxes.append(inbox.id, m).await.unwrap();
    let m = message(&stores, &[b'b'; 30]).await;
    stores.mailboxes.append(inbox.id, m).await.unwrap();
    let account = stores.directory.account(alice).await.unwrap();
    assert_eq!(account.used_bytes, 2 * size);
    assert_eq!(account.quota_bytes, 100);
    assert!(account.would_exceed_quota(100 - 2 * size + 1));
    assert!(!account.would_exceed_quota(100 - 2 * size));
    stores.mailboxes.expunge(inbox.id, &[Uid(1)]).await.unwrap();
    assert_eq!(
        stores.directory.account(alice).await.unwrap().used_bytes,
        size
    );
    let info = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    assert_eq!(info.size, size);
}

/// RFC 3502: several messages appended at once take consecutive UIDs in the order given; if
/// one of them cannot be stored (here: past the quota), none is.
pub async fn append_all_is_all_or_nothing(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    let both = vec![
        message(&stores, b"Subject: one\r\n\r\n1\r\n").await,
        message(&stores, b"Subject: two\r\n\r\n2\r\n").await,
    ];
    let appended = stores
        .mailboxes
        .append_all(inbox.id, both, false)
        .await
        .unwrap();
    let uids: Vec<Uid> = appended.iter().map(|a| a.uid).collect();
    assert_eq!(uids, [Uid(1), Uid(2)]);
    let used = stores.directory.account(alice).await.unwrap().used_bytes;
    stores
        .directory
        .set_quota(&addr("alice@example.org"), used + 60)
        .await
        .unwrap();
    let past_quota = vec![
        message(&stores, &[b'a'; 30]).await,
        message(&stores, &[b'b'; 30]).await,
    ];
    let refused = stores
        .mailboxes
        .append_all(inbox.id, past_quota, false)
        .await;
    assert!(
        matches!(refused, Err(StoreError::OverQuota(_))),
        "{refused:?}"
    );
    let info = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    assert_eq!((info.messages, info.uid_next), (2, Uid(3)));
    assert_eq!(
        stores.directory.account(alice).await.unwrap().used_bytes,
        used
    );
}

/// RFC 3501 §2.3.2: a message is \Recent to one session only: the first claim takes what
/// came since the last one, a second claim gets nothing, and later messages go to the next.
pub async fn recent_messages_are_claimed_once(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    assert_eq!(inbox.recent_uid, Uid(1));
    for body in [b"1".as_slice(), b"2"] {
        let m = message(&stores, body).await;
        stores.mailboxes.append(inbox.id, m).await.unwrap();
    }
    let mb = &stores.mailboxes;
    assert_eq!(mb.claim_recent(inbox.id).await.unwrap(), Uid(1)..Uid(3));
    assert!(mb.claim_recent(inbox.id).await.unwrap().is_empty());
    assert_eq!(mb.mailbox(alice, "INBOX").await.unwrap().recent_uid, Uid(3));
    let m = message(&stores, b"3").await;
    mb.append(inbox.id, m).await.unwrap();
    assert_eq!(mb.claim_recent(inbox.id).await.unwrap(), Uid(3)..Uid(4));
    // An append that takes its messages as recent in its own commit.
    let taken = vec![message(&stores, b"4").await, message(&stores, b"5").await];
    let appended = mb.append_all(inbox.id, taken, true).await.unwrap();
    assert!(appended.iter().all(|a| a.recent));
    assert!(mb.claim_recent(inbox.id).await.unwrap().is_empty());
    // Not when an earlier message still waits to be claimed: then nothing is taken.
    let m = message(&stores, b"6").await;
    mb.append(inbox.id, m).await.unwrap();
    let later = vec![message(&stores, b"7").await];
    let appended = mb.append_all(inbox.id, later, true).await.unwrap();
    assert!(!appended[0].recent);
    assert_eq!(mb.claim_recent(inbox.id).await.unwrap(), Uid(6)..Uid(8));
    // STATUS UNSEEN and DELETED, counted by the store.
    let deleted: Flags = [Flag::Deleted].into_iter().collect();
    let seen: Flags = [Flag::Seen].into_iter().collect();
    mb.store_flags(inbox.id, &[Uid(1), Uid(2)], FlagOp::Add, &seen, None)
        .await
        .unwrap();
    mb.store_flags(inbox.id, &[Uid(2), Uid(7)], FlagOp::Add, &deleted, None)
        .await
        .unwrap();
    let counts = mb.flag_counts(inbox.id).await.unwrap();
    assert_eq!((counts.unseen, counts.deleted, counts.recent), (5, 2, 0));
    let m = message(&stores, b"8").await;
    mb.append(inbox.id, m).await.unwrap();
    assert_eq!(mb.flag_counts(inbox.id).await.unwrap().recent, 1);
}

pub async fn change_events_follow_commits(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    let mut events = stores.mailboxes.watch();
    let m = message(&stores, b"x").await;
    let a = stores.mailboxes.append(inbox.id, m).await.unwrap();
    stores
        .mailboxes
        .store_flags(
            inbox.id,
            &[a.uid],
            FlagOp::Add,
            &[Flag::Flagged].into_iter().collect(),
            None,
        )
        .await
        .unwrap();
    stores.mailboxes.expunge(inbox.id, &[a.uid]).await.unwrap();
    let kinds: Vec<ChangeKind> = (0..3)
        .map(|_| events.try_recv().expect("event").kind)
        .collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::Added(a.uid),
            ChangeKind::FlagsChanged(a.uid),
            ChangeKind::Expunged(a.uid)
        ]
    );
    assert!(events.try_recv().is_err());
    // A failed operation sends nothing.
    assert!(stores
        .mailboxes
        .expunge(tern_types::MailboxId(999_999), &[Uid(1)])
        .await
        .is_err());
    assert!(events.try_recv().is_err());
}

fn queued(stores_blob: crate::StagedBlob, rcpts: Vec<NewRecipient>) -> NewQueueMessage {
    NewQueueMessage {
        blob: stores_blob,
        trace_prefix: b"Received: from test\r\n".to_vec(),
        sender: "sender@remote.example".into(),
        params: Default::default(),
        recipients: rcpts,
        received_at: 1_700_000_000,
    }
}

/// Stages `body` and hands it to [`crate::QueueStore::accept`] for `recipients`.
async fn accept(
    stores: &Stores,
    body: Vec<u8>,
    recipients: Vec<NewRecipient>,
) -> crate::StoreResult<crate::Accepted> {
    let blob = stores.blobs.stage(body).await.expect("stage");
    stores.queue.accept(queued(blob, recipients)).await
}

fn local(address: &str, account: tern_types::AccountId) -> NewRecipient {
    NewRecipient {
        address: address.into(),
        route: Route::Local(account),
        notify: None,
        orcpt: None,
    }
}

/// Makes alice's quota too small for any message, and adds bob without one.
async fn full_alice_and_bob(stores: &Stores) -> tern_types::AccountId {
    let bob = stores
        .directory
        .add_account(&addr("bob@example.org"), "h", 0)
        .await
        .unwrap();
    stores
        .directory
        .set_quota(&addr("alice@example.org"), 10)
        .await
        .unwrap();
    bob
}

pub async fn accept_delivers_local_recipients_in_one_commit(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let bob = stores
        .directory
        .add_account(&addr("bob@example.org"), "h", 0)
        .await
        .unwrap();
    let mut events = stores.mailboxes.watch();
    let first = accept(
        &stores,
        b"Subject: hi\r\n\r\nhello\r\n".to_vec(),
        vec![
            local("alice@example.org", alice),
            local("bob@example.org", bob),
        ],
    )
    .await
    .unwrap();
    assert_eq!((first.delivered.len(), first.queued), (2, 0));
    // Nothing waits: the delivery was the accepting commit itself.
    assert!(stores.queue.list().await.unwrap().is_empty());
    for (account, appended) in [alice, bob].into_iter().zip(&first.delivered) {
        let inbox = stores.mailboxes.mailbox(account, "INBOX").await.unwrap();
        assert_eq!(appended.mailbox, inbox.id);
        assert_eq!(
            stores
                .mailboxes
                .read_message(inbox.id, appended.uid)
                .await
                .unwrap(),
            b"Received: from test\r\nSubject: hi\r\n\r\nhello\r\n"
        );
        assert_eq!(
            events.try_recv().unwrap().kind,
            ChangeKind::Added(appended.uid)
        );
    }
    // Ids never repeat, not even on an idle store or after a restart.
    drop(stores);
    let stores = backend.open(dir.path()).await;
    let second = accept(
        &stores,
        b"again".to_vec(),
        vec![local("alice@example.org", alice)],
    )
    .await
    .unwrap();
    assert!(second.id > first.id, "{} after {}", second.id, first.id);
}

pub async fn accept_queues_a_full_mailbox_and_refuses_when_all_are_full(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let bob = full_alice_and_bob(&stores).await;
    let body = b"Subject: big\r\n\r\nmore than ten bytes\r\n".to_vec();
    // Only alice, and she is full: refused whole, nothing stored.
    let refused = accept(
        &stores,
        body.clone(),
        vec![local("alice@example.org", alice)],
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::OverQuota(_))),
        "{refused:?}"
    );
    assert_eq!(stores.blobs.count().await.unwrap(), 0);
    // An append is refused past the quota too, whoever makes it.
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    let m = message(&stores, &body).await;
    assert!(matches!(
        stores.mailboxes.append(inbox.id, m).await,
        Err(StoreError::OverQuota(_))
    ));
    assert_eq!(
        stores
            .mailboxes
            .mailbox(alice, "INBOX")
            .await
            .unwrap()
            .messages,
        0
    );
    // With bob: bob has it at once, alice's copy waits in the queue.
    let accepted = accept(
        &stores,
        body,
        vec![
            local("alice@example.org", alice),
            local("bob@example.org", bob),
        ],
    )
    .await
    .unwrap();
    assert_eq!((accepted.delivered.len(), accepted.queued), (1, 1));
    let due = stores.queue.lease_due(1_700_000_000, 60, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].message, due[0].address.as_str()),
        (accepted.id, "alice@example.org")
    );
    assert!(due[0].last_error.is_some());
    // Leased recipients are not handed out twice; a restart's release makes them due again.
    assert!(stores
        .queue
        .lease_due(1_700_000_000, 60, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(stores.queue.release_leases().await.unwrap(), 1);
    let due = stores.queue.lease_due(1_700_000_000, 60, 10).await.unwrap();
    assert!(matches!(
        stores.queue.deliver_local(due[0].id, 1_700_000_001).await,
        Err(StoreError::OverQuota(_))
    ));
    stores
        .directory
        .set_quota(&addr("alice@example.org"), 0)
        .await
        .unwrap();
    let delivered = stores
        .queue
        .deliver_local(due[0].id, 1_700_000_001)
        .await
        .unwrap();
    // Exactly once: the recipient is done, a second delivery is refused.
    assert!(matches!(
        stores.queue.deliver_local(due[0].id, 1_700_000_001).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(delivered.mailbox, inbox.id);
    assert_eq!(
        stores
            .mailboxes
            .mailbox(alice, "INBOX")
            .await
            .unwrap()
            .messages,
        1
    );
    // Every recipient done: the message leaves the queue, the blob stays for the mailboxes.
    assert!(stores.queue.list().await.unwrap().is_empty());
    assert_eq!(stores.blobs.count().await.unwrap(), 1);
}

pub async fn queue_keeps_what_was_not_delivered(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let bob = full_alice_and_bob(&stores).await;
    let accepted = accept(
        &stores,
        b"Subject: x\r\n\r\nfor a full mailbox\r\n".to_vec(),
        vec![
            local("alice@example.org", alice),
            local("bob@example.org", bob),
        ],
    )
    .await
    .unwrap();
    assert_eq!(accepted.queued, 1);
    // Removing the account while its mail waits turns that mail into a kept failure.
    stores
        .directory
        .remove_account(&addr("alice@example.org"))
        .await
        .unwrap();
    let listed = stores.queue.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, accepted.id);
    let failed = &listed[0].recipients[0];
    assert_eq!(failed.state, RecipientState::Failed);
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("removed")),
        "{:?}",
        failed.last_error
    );
    assert!(stores
        .queue
        .lease_due(i64::MAX / 2, 60, 10)
        .await
        .unwrap()
        .is_empty());
    // An operator may make it due again (after fixing what made it fail)...
    assert_eq!(
        stores
            .queue
            .retry(accepted.id, 1_700_000_500)
            .await
            .unwrap(),
        1
    );
    let again = stores.queue.lease_due(1_700_000_500, 60, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].state, RecipientState::Queued);
    // ... or remove it: only an operator's decision does.
    assert_eq!(stores.queue.remove(accepted.id).await.unwrap(), 1);
    assert!(stores.queue.list().await.unwrap().is_empty());
    // bob's copy keeps the blob.
    assert_eq!(stores.blobs.count().await.unwrap(), 1);
    assert!(matches!(
        stores.queue.remove(accepted.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        stores.queue.retry(accepted.id, 0).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn queue_defer_fail_and_lease(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, _) = with_alice(backend, dir.path()).await;
    let blob = stores.blobs.stage(b"x".to_vec()).await.unwrap();
    let remote = |a: &str| NewRecipient {
        address: a.into(),
        route: Route::Remote,
        notify: Some("FAILURE".into()),
        orcpt: None,
    };
    let id = stores
        .queue
        .accept(queued(
            blob.clone(),
            vec![remote("a@remote.example"), remote("b@remote.example")],
        ))
        .await
        .unwrap()
        .id;
    let due = stores.queue.lease_due(1_700_000_000, 60, 10).await.unwrap();
    stores
        .queue
        .defer(due[0].id, 1_700_000_300, "451 try later")
        .await
        .unwrap();
    stores
        .queue
        .fail(due[1].id, "550 no such user")
        .await
        .unwrap();
    assert!(matches!(
        stores.queue.fail(due[1].id, "again").await,
        Err(StoreError::Invalid(_))
    ));
    // The deferred one is not due before its time, even though its lease ended.
    assert!(stores
        .queue
        .lease_due(1_700_000_100, 60, 10)
        .await
        .unwrap()
        .is_empty());
    let again = stores.queue.lease_due(1_700_000_300, 60, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("451 try later"));
    let listed = stores.queue.list().await.unwrap();
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].recipients[1].state, RecipientState::Failed);
    assert_eq!(
        stores.queue.read(id).await.unwrap(),
        b"Received: from test\r\nx"
    );
    stores.queue.mark_delivered(again[0].id).await.unwrap();
    // One recipient failed: the message stays, with the failure, until it is dealt with.
    let listed = stores.queue.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].recipients[1].last_error.as_deref(),
        Some("550 no such user")
    );
    assert_eq!(stores.queue.remove(id).await.unwrap(), 1);
    // The message left the queue and nothing else referenced its blob.
    assert_eq!(stores.blobs.count().await.unwrap(), 0);
}

/// Leases are tokens: a worker whose lease ran out and was given to another cannot renew it;
/// leased recipients are not due again until their lease ends; a failure report and its
/// notice are one commit, and reported recipients let the message leave the queue.
pub async fn queue_leases_and_reports(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let blob = stores.blobs.stage(b"x".to_vec()).await.unwrap();
    let remote = |a: &str| NewRecipient {
        address: a.into(),
        route: Route::Remote,
        notify: None,
        orcpt: Some("a@remote.example".into()),
    };
    let t = 1_700_000_000;
    let id = stores
        .queue
        .accept(queued(
            blob,
            vec![remote("a@remote.example"), remote("b@remote.example")],
        ))
        .await
        .unwrap()
        .id;
    let first = stores.queue.lease_due(t, 60, 10).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].lease_until, t + 60);
    assert_eq!(first[0].orcpt.as_deref(), Some("a@remote.example"));
    assert!(
        stores
            .queue
            .lease_due(t + 30, 60, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    assert_eq!(
        stores.queue.next_due_after(t + 30).await.unwrap(),
        Some(t + 60)
    );
    // The lease ran out and another worker took the recipients: the first cannot renew.
    let second = stores.queue.lease_due(t + 61, 60, 10).await.unwrap();
    assert_eq!(second.len(), 2);
    let tokens =
        |r: &[crate::QueuedRecipient]| r.iter().map(|r| (r.id, r.lease_until)).collect::<Vec<_>>();
    assert!(stores
        .queue
        .renew_leases(&tokens(&first), t + 500)
        .await
        .unwrap()
        .is_empty());
    let mine = stores
        .queue
        .renew_leases(&tokens(&second), t + 500)
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    // A delay warning is recorded once, with its notice to alice, in one commit.
    let notice_blob = stores
        .blobs
        .stage(b"Subject: late\r\n\r\n".to_vec())
        .await
        .unwrap();
    let mut notice = queued(
        notice_blob,
        vec![NewRecipient {
            address: "alice@example.test".into(),
            route: Route::Local(alice),
            notify: Some("NEVER".into()),
            orcpt: None,
        }],
    );
    notice.sender = String::new();
    stores
        .queue
        .mark_warned(&[second[0].id], Some(notice.clone()))
        .await
        .unwrap();
    let entry = stores.queue.entry(id).await.unwrap();
    assert!(entry.recipients[0].warned && !entry.recipients[1].warned);
    // Both fail; the report goes to alice in the same commit, and the message leaves.
    let failures = vec![
        (second[0].id, "5.1.1 no such user".to_string()),
        (second[1].id, "5.1.1 no such user".to_string()),
    ];
    let notice_blob = stores
        .blobs
        .stage(b"Subject: failed\r\n\r\n".to_vec())
        .await
        .unwrap();
    notice.blob = notice_blob;
    let reported = stores
        .queue
        .report_failures(&failures, Some(notice))
        .await
        .unwrap();
    assert!(reported.is_some_and(|a| a.delivered.len() == 1));
    assert!(matches!(
        stores.queue.entry(id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        stores.queue.report_failures(&failures, None).await,
        Err(StoreError::Invalid(_) | StoreError::NotFound(_))
    ));
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    assert_eq!(inbox.messages, 2, "the warning and the report");
}

pub async fn large_blobs_round_trip(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut writer = stores.blobs.writer().await.unwrap();
    for chunk in big.chunks(65_536) {
        writer.write(chunk).await.unwrap();
    }
    assert_eq!(writer.len(), big.len() as u64);
    let blob = writer.finish().await.unwrap();
    let a = stores
        .mailboxes
        .append(
            inbox.id,
            NewMessage {
                blob,
                prefix: Vec::new(),
                flags: Flags::new(),
                internal_date: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        stores
            .mailboxes
            .read_message(inbox.id, a.uid)
            .await
            .unwrap(),
        big
    );
}

/// `messages_of` and `messages_meta` give the records of exactly the UIDs asked for, in UID
/// order, whether they lie together or far apart, and leave out those expunged.
pub async fn records_of_chosen_uids(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    for i in 1..=300 {
        let m = message(&stores, format!("Subject: n{i}\r\n\r\nbody\r\n").as_bytes()).await;
        stores.mailboxes.append(inbox.id, m).await.unwrap();
    }
    stores
        .mailboxes
        .expunge(inbox.id, &[Uid(5), Uid(299)])
        .await
        .unwrap();
    let together: Vec<Uid> = (3..=8).map(Uid).collect();
    let apart = vec![Uid(1), Uid(5), Uid(150), Uid(299), Uid(300), Uid(900)];
    for (asked, expected) in [
        (together, vec![3, 4, 6, 7, 8]),
        (apart, vec![1, 150, 300]),
        (Vec::new(), Vec::new()),
    ] {
        let expected: Vec<Uid> = expected.into_iter().map(Uid).collect();
        let records = stores
            .mailboxes
            .messages_of(inbox.id, &asked)
            .await
            .unwrap();
        assert_eq!(
            records.iter().map(|r| r.uid).collect::<Vec<_>>(),
            expected,
            "records of {asked:?}"
        );
        let metas = stores
            .mailboxes
            .messages_meta(inbox.id, &asked)
            .await
            .unwrap();
        assert_eq!(
            metas.iter().map(|(uid, _)| *uid).collect::<Vec<_>>(),
            expected,
            "metas of {asked:?}"
        );
        for (uid, meta) in metas {
            let subject = meta.and_then(|m| m.envelope.subject);
            assert_eq!(subject.as_deref(), Some(format!("n{}", uid.0).as_str()));
        }
    }
}

/// `open_message` reads any byte range, across the prefix and the blob, from inline and file
/// blobs alike (the backend's test makes the inline limit small), in one snapshot that an
/// expunge after the open does not disturb.
pub async fn messages_read_in_ranges(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    for body in [&b"tiny"[..], &large[..]] {
        let m = message(&stores, body).await;
        let mut whole = m.prefix.clone();
        whole.extend_from_slice(body);
        let a = stores.mailboxes.append(inbox.id, m).await.unwrap();
        let reader = stores
            .mailboxes
            .open_message(inbox.id, a.uid)
            .await
            .unwrap();
        assert_eq!(reader.len(), whole.len() as u64);
        stores.mailboxes.expunge(inbox.id, &[a.uid]).await.unwrap();
        let len = whole.len();
        let mut buf = Vec::new();
        for (offset, max) in [
            (0, 5),
            (15, 10),
            (20, 3),
            (0, len),
            (len - 3, 10),
            (len / 2, crate::READ_CHUNK),
            (len, 10),
            (len + 100, 10),
        ] {
            reader.read_at(offset as u64, max, &mut buf).await.unwrap();
            let start = offset.min(len);
            let end = (offset + max).min(len);
            assert_eq!(buf, whole[start..end], "offset {offset}, max {max}");
        }
    }
    assert!(matches!(
        stores.mailboxes.open_message(inbox.id, Uid(1)).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn removing_account_cleans_up(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    let m = message(&stores, b"only alice has this").await;
    stores.mailboxes.append(inbox.id, m).await.unwrap();
    assert_eq!(stores.blobs.count().await.unwrap(), 1);
    stores
        .directory
        .add_alias(
            &"team@example.org".parse().unwrap(),
            &[addr("alice@example.org")],
        )
        .await
        .unwrap();
    stores
        .directory
        .remove_account(&addr("alice@example.org"))
        .await
        .unwrap();
    assert_eq!(stores.blobs.count().await.unwrap(), 0);
    assert!(matches!(
        stores
            .mailboxes
            .list_mailboxes(alice)
            .await
            .map(|v| v.len()),
        Ok(0)
    ));
    // The alias lost its only target, so it no longer routes anything.
    assert_eq!(
        stores
            .directory
            .resolve_recipient(&addr("team@example.org"), RecipientPolicy::default())
            .await
            .unwrap(),
        Resolution::UnknownUser
    );
}

/// The message layer's record is stored with every appended message (inline and file blobs:
/// the backend's test makes the inline limit small) and read back as it was analysed; text
/// search finds substrings case-insensitively through the index, in one mailbox only, with
/// short terms and GLOB-like characters too; an expunged message is no longer found.
pub async fn content_is_recorded_and_searchable(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    let sent = stores.mailboxes.mailbox(alice, "Sent").await.unwrap();
    let messages: [&[u8]; 4] = [
        b"From: Ann Example <ann@x.test>\r\nTo: bob@y.test\r\nSubject: Quarterly Report\r\n\r\nThe figures are ready.\r\n",
        b"From: carl@x.test\r\nSubject: =?utf-8?q?Caf=C3=A9?= plans\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Zebra <b>crossing</b> at 5*3</p>\r\n--b\r\nContent-Type: application/pdf; name=plan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n",
        b"Subject: short\r\n\r\nab\r\n",
        b"no header block at all, just text about figures",
    ];
    let mut uids = Vec::new();
    for body in messages {
        let a = stores
            .mailboxes
            .append(inbox.id, message(&stores, body).await)
            .await
            .unwrap();
        uids.push(a.uid);
    }
    let other = message(&stores, b"Subject: Report elsewhere\r\n\r\nfigures\r\n").await;
    stores.mailboxes.append(sent.id, other).await.unwrap();

    for (uid, body) in uids.iter().zip(messages) {
        let meta = stores
            .mailboxes
            .message_meta(inbox.id, *uid)
            .await
            .unwrap()
            .expect("recorded");
        let expected = tern_message::mime::analyse(body, &Default::default()).meta;
        assert_eq!(meta, expected, "uid {uid}");
    }
    assert!(matches!(
        stores.mailboxes.message_meta(inbox.id, Uid(99)).await,
        Err(StoreError::NotFound(_))
    ));

    let search = |field: TextField, term: &'static str| {
        let stores = stores.clone();
        async move {
            stores
                .mailboxes
                .search_text(inbox.id, field, term)
                .await
                .unwrap()
        }
    };
    let (one, two, three, four) = (uids[0], uids[1], uids[2], uids[3]);
    assert_eq!(search(TextField::Subject, "report").await, vec![one]);
    assert_eq!(search(TextField::Subject, "QUARTERLY").await, vec![one]);
    assert_eq!(search(TextField::Subject, "café").await, vec![two]);
    assert_eq!(search(TextField::Subject, "CAFÉ").await, vec![two]);
    assert_eq!(search(TextField::From, "ann@x.test").await, vec![one]);
    assert_eq!(search(TextField::From, "Ann Example").await, vec![one]);
    assert_eq!(search(TextField::To, "bob@").await, vec![one]);
    assert_eq!(search(TextField::Body, "zebra crossing").await, vec![two]);
    assert_eq!(search(TextField::Body, "plan.pdf").await, vec![two]);
    assert_eq!(search(TextField::Body, "5*3").await, vec![two]);
    assert_eq!(search(TextField::Body, "*").await, vec![two]);
    assert_eq!(search(TextField::Body, "figures").await, vec![one, four]);
    assert_eq!(search(TextField::Text, "figures").await, vec![one, four]);
    assert_eq!(search(TextField::Text, "quarterly").await, vec![one]);
    assert_eq!(
        search(TextField::Headers, "figures").await,
        Vec::<Uid>::new()
    );
    // Under three characters the index cannot help; the scan gives the same kind of answer.
    assert_eq!(search(TextField::Body, "ab").await, vec![three, four]);
    assert_eq!(
        search(TextField::Body, "").await,
        vec![one, two, three, four]
    );
    assert_eq!(search(TextField::Body, "b>").await, Vec::<Uid>::new());

    stores.mailboxes.expunge(inbox.id, &[one]).await.unwrap();
    assert_eq!(search(TextField::Body, "figures").await, vec![four]);
    assert_eq!(
        search(TextField::Subject, "report").await,
        Vec::<Uid>::new()
    );
}

/// COPY keeps flags and dates and shares the blob, MOVE is copy plus expunge, RENAME takes
/// inferiors along and keeps UIDVALIDITY (INBOX's messages move out instead), DELETE gives the
/// space back and refuses INBOX; a copy past the quota changes nothing.
pub async fn mailbox_operations_for_imap(backend: &dyn Backend) {
    let dir = tempdir();
    let (stores, alice) = with_alice(backend, dir.path()).await;
    let mb = &stores.mailboxes;
    let inbox = mb.mailbox(alice, "INBOX").await.unwrap();
    let archive = mb.mailbox(alice, "Archive").await.unwrap();
    let trash = mb.mailbox(alice, "Trash").await.unwrap();
    let mut seen = Flags::new();
    seen.insert(Flag::Seen);
    for (i, body) in [
        &b"Subject: one\r\n\r\n1\r\n"[..],
        b"Subject: two\r\n\r\n2\r\n",
        b"Subject: three\r\n\r\n3\r\n",
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = message(&stores, body).await;
        m.flags = if i == 0 { seen.clone() } else { Flags::new() };
        m.internal_date = 1_700_000_000 + i as i64;
        mb.append(inbox.id, m).await.unwrap();
    }
    let used =
        |stores: Stores| async move { stores.directory.account(alice).await.unwrap().used_bytes };
    let before = used(stores.clone()).await;

    let copied = mb
        .copy_messages(inbox.id, &[Uid(3), Uid(1), Uid(99)], archive.id)
        .await
        .unwrap();
    assert_eq!(copied, vec![(Uid(1), Uid(1)), (Uid(3), Uid(2))]);
    let originals = mb.messages(inbox.id, Uid(1)).await.unwrap();
    let copies = mb.messages(archive.id, Uid(1)).await.unwrap();
    assert_eq!(copies[0].flags, originals[0].flags);
    assert_eq!(copies[0].internal_date, originals[0].internal_date);
    assert_eq!(copies[1].content_id, originals[2].content_id);
    assert_eq!(
        mb.read_message(archive.id, Uid(2)).await.unwrap(),
        mb.read_message(inbox.id, Uid(3)).await.unwrap()
    );
    assert_eq!(
        mb.message_meta(archive.id, Uid(2)).await.unwrap(),
        mb.message_meta(inbox.id, Uid(3)).await.unwrap()
    );
    assert_eq!(
        used(stores.clone()).await,
        before + copies[0].size + copies[1].size
    );

    let moved = mb
        .move_messages(inbox.id, &[Uid(2)], trash.id)
        .await
        .unwrap();
    assert_eq!(moved, vec![(Uid(2), Uid(1))]);
    let left: Vec<Uid> = mb
        .messages(inbox.id, Uid(1))
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, vec![Uid(1), Uid(3)]);
    assert_eq!(
        mb.changes_since(inbox.id, ModSeq(1))
            .await
            .unwrap()
            .expunged,
        vec![Uid(2)]
    );
    // RFC 6851 §3.3: a move within the mailbox gives the message a new UID there.
    let within = mb
        .move_messages(inbox.id, &[Uid(1)], inbox.id)
        .await
        .unwrap();
    assert_eq!(within.len(), 1);
    assert!(within[0].1 > Uid(3), "{within:?}");
    let after: Vec<Uid> = mb
        .messages(inbox.id, Uid(1))
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(after, vec![Uid(3), within[0].1]);

    let projects = mb.create_mailbox(alice, "Projects", None).await.unwrap();
    mb.create_mailbox(alice, "Projects/a", None).await.unwrap();
    mb.create_mailbox(alice, "Projectsx", None).await.unwrap();
    mb.rename_mailbox(projects.id, "Work").await.unwrap();
    let names: Vec<String> = mb
        .list_mailboxes(alice)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(
        names.contains(&"Work".to_string()) && names.contains(&"Work/a".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"Projectsx".to_string()), "{names:?}");
    assert_eq!(
        mb.mailbox(alice, "Work").await.unwrap().uid_validity,
        projects.uid_validity
    );
    assert!(matches!(
        mb.rename_mailbox(projects.id, "Sent").await,
        Err(StoreError::AlreadyExists(_))
    ));

    mb.rename_mailbox(inbox.id, "Saved").await.unwrap();
    assert_eq!(mb.mailbox(alice, "INBOX").await.unwrap().messages, 0);
    let saved = mb.mailbox(alice, "Saved").await.unwrap();
    assert_eq!(saved.messages, 2);

    let blobs = stores.blobs.count().await.unwrap();
    let before_delete = used(stores.clone()).await;
    mb.delete_mailbox(trash.id).await.unwrap();
    assert!(matches!(
        mb.mailbox(alice, "Trash").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(used(stores.clone()).await < before_delete);
    assert_eq!(
        stores.blobs.count().await.unwrap(),
        blobs - 1,
        "message two had no other copy"
    );
    assert!(matches!(
        mb.delete_mailbox(inbox.id).await,
        Err(StoreError::Invalid(_))
    ));

    // Subscriptions are by name (RFC 9051 §6.3.7): a new mailbox is not subscribed, a name
    // may be subscribed without a mailbox, and the subscription follows a rename.
    let is_subscribed = |name: &'static str| async move {
        mb.subscriptions(alice)
            .await
            .unwrap()
            .iter()
            .any(|s| s == name)
    };
    assert!(!is_subscribed("Saved").await);
    mb.set_subscribed(alice, "Saved", true).await.unwrap();
    mb.set_subscribed(alice, "Not/There", true).await.unwrap();
    assert!(is_subscribed("Saved").await);
    mb.rename_mailbox(saved.id, "Kept").await.unwrap();
    assert!(is_subscribed("Kept").await);
    mb.set_subscribed(alice, "Kept", false).await.unwrap();
    assert!(!is_subscribed("Kept").await);
    mb.rename_mailbox(saved.id, "Saved").await.unwrap();
    let subscribed = mb.subscriptions(alice).await.unwrap();
    assert!(subscribed.contains(&"INBOX".to_string()), "{subscribed:?}");
    assert!(
        subscribed.contains(&"Not/There".to_string()),
        "{subscribed:?}"
    );
    assert!(!subscribed.contains(&"Saved".to_string()), "{subscribed:?}");

    // An account with room for one message: a copy does not fit and changes nothing; a move
    // changes no usage, so it goes through.
    let carol = stores
        .directory
        .add_account(&addr("carol@example.org"), "hash-c", 60)
        .await
        .unwrap();
    let carol_inbox = mb.mailbox(carol, "INBOX").await.unwrap();
    let carol_archive = mb.mailbox(carol, "Archive").await.unwrap();
    mb.append(
        carol_inbox.id,
        message(&stores, b"Subject: x\r\n\r\nfits once\r\n").await,
    )
    .await
    .unwrap();
    let carol_used = stores.directory.account(carol).await.unwrap().used_bytes;
    assert!(matches!(
        mb.copy_messages(carol_inbox.id, &[Uid(1)], carol_archive.id)
            .await,
        Err(StoreError::OverQuota(_))
    ));
    assert_eq!(mb.mailbox(carol, "Archive").await.unwrap().messages, 0);
    assert_eq!(
        mb.move_messages(carol_inbox.id, &[Uid(1)], carol_archive.id)
            .await
            .unwrap(),
        vec![(Uid(1), Uid(1))]
    );
    assert_eq!(
        stores.directory.account(carol).await.unwrap().used_bytes,
        carol_used
    );
}
