//! Mailboxes and the messages in them, with the bookkeeping IMAP needs.

use async_trait::async_trait;
use tern_message::mime::MessageMeta;
use tern_types::{AccountId, Flag, Flags, MailboxId, ModSeq, SpecialUse, Uid, UidValidity};
use tokio::sync::broadcast;

use crate::{StagedBlob, StoreError, StoreResult};

/// Mailboxes every new account gets (RFC 6154 §2 attributes on all but INBOX).
pub const DEFAULT_MAILBOXES: [(&str, Option<SpecialUse>); 6] = [
    ("INBOX", None),
    ("Sent", Some(SpecialUse::Sent)),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Archive", Some(SpecialUse::Archive)),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    pub id: MailboxId,
    pub account: AccountId,
    pub name: String,
    pub special_use: Option<SpecialUse>,
    pub uid_validity: UidValidity,
    /// The UID the next appended message will get; never goes down, never reused.
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    pub messages: u32,
    pub size: u64,
    /// RFC 3501 §2.3.2: messages from this UID on are \Recent to the next session that
    /// claims them ([`MailboxStore::claim_recent`]).
    pub recent_uid: Uid,
}

/// One message as a mailbox lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub uid: Uid,
    pub modseq: ModSeq,
    pub flags: Flags,
    /// RFC 9051 §2.3.3 internal date, seconds since the Unix epoch.
    pub internal_date: i64,
    /// Octets of the message as delivered: trace prefix plus blob.
    pub size: u64,
    /// The stored content's id: shared by the copies of one message (COPY, MOVE), never given
    /// to other content (RFC 8474 EMAILID).
    pub content_id: u64,
}

/// Messages of a mailbox without \Seen, with \Deleted, and not yet claimed as \Recent
/// (STATUS UNSEEN, DELETED and RECENT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlagCounts {
    pub unseen: u32,
    pub deleted: u32,
    pub recent: u32,
}

/// A message to append. The trace headers of this delivery travel as a prefix so that one
/// blob can serve every recipient.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub blob: StagedBlob,
    pub prefix: Vec<u8>,
    pub flags: Flags,
    pub internal_date: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub mailbox: MailboxId,
    pub uid_validity: UidValidity,
    pub uid: Uid,
    pub modseq: ModSeq,
    /// RFC 3501 §2.3.2: the message was taken as \Recent for the caller in the same commit
    /// (see [`MailboxStore::append_all`]).
    pub recent: bool,
}

/// How a flag update combines with what the message has (RFC 9051 §6.4.6 FLAGS, +FLAGS, -FLAGS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Replace,
    Add,
    Remove,
}

impl FlagOp {
    pub fn apply(self, current: &Flags, given: &Flags) -> Flags {
        match self {
            FlagOp::Replace => given.clone(),
            FlagOp::Add => {
                let mut out = current.clone();
                given.iter().for_each(|f| out.insert(f));
                out
            }
            FlagOp::Remove => {
                let mut out = current.clone();
                given.iter().for_each(|f: Flag| out.remove(&f));
                out
            }
        }
    }
}

/// What changed in a mailbox after a MODSEQ (RFC 7162 §3.1.4, §3.2.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesSince {
    pub highest_modseq: ModSeq,
    /// The mailbox's UIDNEXT now.
    pub uid_next: Uid,
    /// Messages added or whose flags changed, in UID order.
    pub changed: Vec<MessageRecord>,
    /// Expunged UIDs, in UID order.
    pub expunged: Vec<Uid>,
    /// The expunge log's floor: expunges at or below this MODSEQ are forgotten, so
    /// `expunged` is complete only when asked since a MODSEQ at or above it. Below it a
    /// client must be told of a superset (RFC 7162 §3.2.5.1 allows that).
    pub log_floor: ModSeq,
}

/// A hint that a mailbox changed. Sessions treat it as "ask the store" (MODSEQ is the truth),
/// so a lost or doubled event cannot desynchronise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub account: AccountId,
    pub mailbox: MailboxId,
    pub modseq: ModSeq,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added(Uid),
    FlagsChanged(Uid),
    Expunged(Uid),
}

/// Where a text search looks: the string-taking SEARCH keys of RFC 9051 §6.4.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextField {
    Subject,
    From,
    To,
    Cc,
    Bcc,
    /// Every header field of the message, `name: value`.
    Headers,
    /// The decoded text of the body's text parts, attachments' names.
    Body,
    /// Headers or body.
    Text,
}

/// What one read of a stored message asks for at most: the unit streaming readers use, and
/// the most a reader holds in memory for it.
pub const READ_CHUNK: usize = 64 * 1024;

/// A stored message opened for reading (see [`MailboxStore::open_message`]).
#[async_trait]
pub trait MessageReader: Send + Sync {
    /// Octets of the whole message, trace prefix included.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Replaces the contents of `buf` with the octets from `offset`, at most `max` of them:
    /// fewer only where the message ends, none at or past its end. `buf` is reused, so a
    /// reader streaming a message allocates once.
    async fn read_at(&self, offset: u64, max: usize, buf: &mut Vec<u8>) -> StoreResult<()>;
}

#[async_trait]
pub trait MailboxStore: Send + Sync {
    /// Creates `name` and, in the same commit, the superiors it needs ("a" and "a/b" for
    /// "a/b/c", RFC 9051 §6.3.4); `AlreadyExists` only when `name` itself exists.
    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> StoreResult<MailboxInfo>;
    async fn list_mailboxes(&self, account: AccountId) -> StoreResult<Vec<MailboxInfo>>;
    /// `INBOX` matches case-insensitively (RFC 9051 §5.1); other names exactly.
    async fn mailbox(&self, account: AccountId, name: &str) -> StoreResult<MailboxInfo>;

    /// Assigns the next UID and a new MODSEQ, counts the size against the account's quota,
    /// and is durable before it returns: [`Self::append_all`] of one message.
    async fn append(&self, mailbox: MailboxId, message: NewMessage) -> StoreResult<Appended> {
        let mut appended = self.append_all(mailbox, vec![message], false).await?;
        appended
            .pop()
            .ok_or_else(|| StoreError::Internal("an append stored nothing".into()))
    }
    /// Appends every message or none (RFC 3502 MULTIAPPEND is atomic), in one durable commit;
    /// the UIDs follow the order given. With `take_recent` (an IMAP session appending to the
    /// mailbox it has selected), the new messages are also claimed as \Recent for the caller
    /// in that commit, as [`Self::claim_recent`] would, unless an earlier message still waits
    /// to be claimed (then none is, and `Appended::recent` says so): one commit, not two.
    async fn append_all(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
        take_recent: bool,
    ) -> StoreResult<Vec<Appended>>;
    /// Messages with a UID at or above `from`, in UID order.
    async fn messages(&self, mailbox: MailboxId, from: Uid) -> StoreResult<Vec<MessageRecord>>;
    /// The messages of `uids` (ascending), in UID order, those no longer there left out.
    /// Reads only those: a FETCH of the first and the last of 100,000 messages reads two.
    async fn messages_of(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> StoreResult<Vec<MessageRecord>>;
    /// How many messages lack \Seen, have \Deleted, and wait to be claimed as \Recent,
    /// counted by the store (a STATUS of a large mailbox, which clients send for every
    /// folder, reads no records).
    async fn flag_counts(&self, mailbox: MailboxId) -> StoreResult<FlagCounts>;
    /// UIDs and wire sizes (see [`crate::StagedBlob::wire_size`]) of every message, in UID
    /// order: all a POP3 maildrop needs, at a fraction of the memory of [`MessageRecord`]s.
    async fn wire_sizes(&self, mailbox: MailboxId) -> StoreResult<Vec<(Uid, u64)>>;
    /// Opens the message as delivered (its trace prefix followed by its blob) for reading in
    /// byte ranges, so that no reader holds a whole message: POP3 RETR streams it, IMAP
    /// partial FETCH reads one range. It stays readable while the reader lives, even if the
    /// message is expunged meanwhile.
    async fn open_message(
        &self,
        mailbox: MailboxId,
        uid: Uid,
    ) -> StoreResult<Box<dyn MessageReader>>;
    /// Octets `range` of each message named, in order; fails if one is not there. Backends
    /// read them together where they can: a FETCH of many small messages sends them this way,
    /// where a reader opened for each cost a thread hand-off per message.
    async fn read_ranges(
        &self,
        mailbox: MailboxId,
        wanted: Vec<(Uid, std::ops::Range<u64>)>,
    ) -> StoreResult<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(wanted.len());
        for (uid, range) in wanted {
            let reader = self.open_message(mailbox, uid).await?;
            let mut buf = Vec::new();
            let want = usize::try_from(range.end.saturating_sub(range.start)).unwrap_or(usize::MAX);
            reader.read_at(range.start, want, &mut buf).await?;
            out.push(buf);
        }
        Ok(out)
    }
    /// The whole message in memory, for callers that need it whole (tests, small tools).
    async fn read_message(&self, mailbox: MailboxId, uid: Uid) -> StoreResult<Vec<u8>> {
        let reader = self.open_message(mailbox, uid).await?;
        let mut message = Vec::new();
        let mut piece = Vec::new();
        while (message.len() as u64) < reader.len() {
            reader
                .read_at(message.len() as u64, READ_CHUNK, &mut piece)
                .await?;
            if piece.is_empty() {
                break;
            }
            message.extend_from_slice(&piece);
        }
        Ok(message)
    }
    /// What the message layer recorded about the message at delivery (part tree, envelope,
    /// sort keys). `None` for a message stored before there was a message layer.
    async fn message_meta(&self, mailbox: MailboxId, uid: Uid) -> StoreResult<Option<MessageMeta>>;
    /// [`MailboxStore::message_meta`] of the messages of `uids` (ascending), in UID order, those
    /// no longer there left out: one read for a batch of a FETCH of ENVELOPE or BODYSTRUCTURE.
    async fn messages_meta(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> StoreResult<Vec<(Uid, Option<MessageMeta>)>>;
    /// UIDs of the messages whose `field` contains `term`, case-insensitively (RFC 9051
    /// §6.4.4: substring match), in UID order; answered from the full-text index.
    async fn search_text(
        &self,
        mailbox: MailboxId,
        field: TextField,
        term: &str,
    ) -> StoreResult<Vec<Uid>>;
    /// Copies messages to `to` (RFC 9051 §6.4.7: flags and internal date kept), in UID order,
    /// in one transaction: all or nothing (the quota counts each copy). Returns the source
    /// and new UIDs of what was copied (RFC 4315 COPYUID); UIDs not in `from` are skipped.
    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> StoreResult<Vec<(Uid, Uid)>>;
    /// Copies and expunges from `from` in one transaction (RFC 6851 MOVE is atomic).
    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> StoreResult<Vec<(Uid, Uid)>>;
    /// Deletes a mailbox and its messages (their space goes back to the quota). INBOX cannot
    /// be deleted (RFC 9051 §6.3.4); a mailbox's inferiors are left alone.
    async fn delete_mailbox(&self, mailbox: MailboxId) -> StoreResult<()>;
    /// Renames a mailbox and its inferiors (`a` -> `b` takes `a/x` to `b/x`), keeping UIDs and
    /// UIDVALIDITY. Renaming INBOX moves its messages to a new mailbox of that name and
    /// leaves INBOX empty (RFC 9051 §6.3.5). Fails if the new name exists.
    async fn rename_mailbox(&self, mailbox: MailboxId, new_name: &str) -> StoreResult<()>;
    /// Subscribes the account to a mailbox name or unsubscribes it (RFC 9051 §6.3.7, §6.3.8):
    /// by name, whether or not such a mailbox exists.
    async fn set_subscribed(
        &self,
        account: AccountId,
        name: &str,
        subscribed: bool,
    ) -> StoreResult<()>;
    /// The names the account is subscribed to, in name order.
    async fn subscriptions(&self, account: AccountId) -> StoreResult<Vec<String>>;
    /// RFC 3501 §2.3.2: takes the mailbox's messages not yet \Recent to any session for the
    /// caller: the UIDs from the returned range's start up to UIDNEXT are now recent to it
    /// alone, and to no later claim. An empty range when there are none.
    async fn claim_recent(&self, mailbox: MailboxId) -> StoreResult<std::ops::Range<Uid>>;
    /// Updates flags; with `unchanged_since` (RFC 7162 §3.1.3) messages changed after it are
    /// left alone. Returns the messages whose flags changed, with their new MODSEQ.
    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> StoreResult<Vec<MessageRecord>>;
    /// Removes the messages, records their UIDs in the change log and returns what was removed.
    async fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> StoreResult<Vec<Uid>>;
    /// IMAP's EXPUNGE and CLOSE (RFC 9051 §6.4.3, §6.4.2): removes the messages that have
    /// `\Deleted` (those of `within` only, ascending UIDs, for UID EXPUNGE, RFC 4315 §2.1) when
    /// the removal commits, and returns them.
    async fn expunge_deleted(
        &self,
        mailbox: MailboxId,
        within: Option<&[Uid]>,
    ) -> StoreResult<Vec<Uid>>;
    async fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> StoreResult<ChangesSince>;
    /// Change events of every mailbox, sent after each commit.
    fn watch(&self) -> broadcast::Receiver<Change>;
}
