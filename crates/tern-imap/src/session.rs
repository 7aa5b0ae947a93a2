//! The session: its state (RFC 9051 §3: not authenticated, authenticated, selected, logout)
//! and the dispatch of each command to its module in `cmd/`, answered into an output buffer,
//! with message bodies as [`Piece::Range`] for the connection to stream from the store.

use std::sync::Arc;

use tern_auth::Secret;
use tern_message::mime::ImapStrings;
use tern_net::ConnInfo;
use tern_store::{AccountAuth, MailboxInfo, StoreError};
use tern_types::{Flag, MailboxId, ModSeq, Uid};

use crate::extended::ListOptions;
use crate::names;
use crate::placeholder::SetKind;
use crate::request::{Request, Set};
use crate::respond::{tagged, untagged};
use crate::users::Slot;
use crate::ImapShared;

/// What the connection sends, in order.
#[derive(Debug)]
pub(crate) enum Piece {
    Bytes(Vec<u8>),
    /// Octets `range` of a message (trace prefix and blob), streamed from the store.
    Range {
        mailbox: MailboxId,
        uid: Uid,
        range: std::ops::Range<u64>,
    },
}

/// What the connection does after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    Continue,
    /// Send what is pending, then close.
    Close,
    /// Send what is pending, drop buffered input, and start the TLS handshake (RFC 9051 §6.2.1).
    StartTls,
    /// Send what is pending, then deflate the connection both ways (RFC 4978).
    Compress,
    /// The next line is the client's answer to `+` for this AUTHENTICATE tag.
    AuthData(String),
    /// IDLE (RFC 2177) under this tag: changes are pushed until the client sends DONE.
    Idle(String),
    /// Send what is pending, then answer the next window of this FETCH.
    Fetch(Box<crate::cmd::fetch::FetchRun>),
}

/// The selected mailbox: the message sequence numbers of this session (RFC 9051 §2.3.1.2),
/// kept as the UIDs in order; flags and bodies are read from the store when asked for.
#[derive(Debug)]
pub(crate) struct Selected {
    pub(crate) mailbox: MailboxInfo,
    pub(crate) read_only: bool,
    pub(crate) uids: Vec<Uid>,
    /// The highest MODSEQ this session has reported (RFC 7162): what `refresh` asks after.
    pub(crate) modseq: ModSeq,
    /// The keywords the client has been told of in FLAGS (RFC 3501 §7.2.6).
    pub(crate) keywords: std::collections::BTreeSet<String>,
    /// RFC 3501 §2.3.2: the UID ranges (end excluded) whose messages are \Recent to this
    /// session: claimed from the store at SELECT and as new messages come (for EXAMINE, all
    /// from the mailbox's first unclaimed UID on, without claiming them).
    pub(crate) recent: Vec<std::ops::Range<Uid>>,
    /// New messages below this UID need no claim: this session has claimed up to here (or
    /// another session has). Saves a store commit when the session's own APPEND took them.
    pub(crate) claimed_upto: Uid,
}

/// The contents of `FLAGS (...)`: the stored flags, and `\Recent` when the message is recent
/// to an IMAP4rev1 session (RFC 9051 dropped the flag).
pub(crate) fn flag_names(flags: &tern_types::Flags, recent: bool) -> String {
    let mut names: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    if recent {
        names.push("\\Recent".to_string());
    }
    names.join(" ")
}

impl Selected {
    /// Adds UIDs claimed as \Recent for this session.
    pub(crate) fn take_recent(&mut self, claimed: std::ops::Range<Uid>) {
        self.claimed_upto = self.claimed_upto.max(claimed.end);
        if claimed.is_empty() {
            return;
        }
        // A claim that follows the last one extends it: a session that takes every new
        // message as it comes keeps one range, however long it stays.
        match self.recent.last_mut() {
            Some(last) if last.end == claimed.start => last.end = claimed.end,
            _ => self.recent.push(claimed),
        }
    }

    pub(crate) fn is_recent(&self, uid: Uid) -> bool {
        self.recent.iter().any(|r| r.contains(&uid))
    }

    /// How many of the session's messages are \Recent to it.
    pub(crate) fn recent_count(&self) -> usize {
        self.recent
            .iter()
            .map(|r| {
                self.uids.partition_point(|u| *u < r.end)
                    - self.uids.partition_point(|u| *u < r.start)
            })
            .sum()
    }

    /// The recent messages as a UID set (for the RECENT, NEW and OLD search keys).
    pub(crate) fn recent_set(&self) -> Set {
        use crate::request::Bound;
        Set(self
            .recent
            .iter()
            .filter(|r| r.start < r.end)
            .map(|r| (Bound::Value(r.start.0), Bound::Value(r.end.0 - 1)))
            .collect())
    }

    /// RFC 3501 §7.2.6 / RFC 9051 §7.3.5: FLAGS lists the flags in use in the mailbox, the
    /// keywords too, and is sent again when a keyword appears; PERMANENTFLAGS with it.
    pub(crate) fn announce_keywords<'a>(
        &mut self,
        out: &mut Vec<u8>,
        flags: impl IntoIterator<Item = &'a tern_types::Flags>,
    ) {
        let before = self.keywords.len();
        for flags in flags {
            for flag in flags.iter() {
                if let Flag::Keyword(k) = flag {
                    self.keywords.insert(k);
                }
            }
        }
        if self.keywords.len() != before {
            self.flags_responses(out);
        }
    }

    /// FLAGS and PERMANENTFLAGS with this mailbox's keywords.
    pub(crate) fn flags_responses(&self, out: &mut Vec<u8>) {
        untagged(out, &self.flags_line());
        untagged(out, &self.permanent_flags_line());
    }

    fn keyword_list(&self) -> String {
        self.keywords.iter().map(|k| format!(" {k}")).collect()
    }

    pub(crate) fn flags_line(&self) -> String {
        format!(
            "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{})",
            self.keyword_list()
        )
    }

    pub(crate) fn permanent_flags_line(&self) -> String {
        match self.read_only {
            true => "OK [PERMANENTFLAGS ()] Read-only mailbox".into(),
            false => format!(
                "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{} \\*)] Flags permitted",
                self.keyword_list()
            ),
        }
    }
}

#[derive(Debug)]
pub(crate) enum State {
    NotAuthenticated,
    Authenticated(AccountAuth),
    Selected(AccountAuth, Selected),
}

pub(crate) struct Session {
    pub(crate) shared: Arc<ImapShared>,
    pub(crate) info: ConnInfo,
    pub(crate) state: State,
    /// RFC 7162 §3.1: the client has used CONDSTORE; unsolicited and STORE's FETCH responses
    /// carry MODSEQ from then on.
    pub(crate) condstore: bool,
    /// RFC 7162 §3.2.3: ENABLE QRESYNC was given; expunges are told as VANISHED from then on.
    pub(crate) qresync: bool,
    /// RFC 9051 §6.3.1: ENABLE IMAP4rev2 was given; the session follows IMAP4rev2 from then
    /// on (ESEARCH answers SEARCH, SELECT names the mailbox in LIST, no RECENT).
    pub(crate) rev2: bool,
    /// RFC 6855 §3 (and IMAP4rev2, RFC 9051 §5.1): mailbox names in UTF-8 both ways, UTF-8
    /// in quoted strings.
    pub(crate) utf8: bool,
    /// RFC 5182 (part of IMAP4rev2, RFC 9051 §6.4.4.1): the result a `SEARCH RETURN (SAVE)`
    /// kept, as UIDs, for `$`; emptied when the selected mailbox changes.
    pub(crate) saved: Vec<Uid>,
    /// RFC 4978: COMPRESS DEFLATE is on; a second COMPRESS is refused.
    compressed: bool,
    /// This session's share of its account's limits (`max_sessions_per_user`, and one IDLE).
    pub(crate) session_slot: Option<Slot>,
    idle_slot: Option<Slot>,
}

/// What one command produced.
pub(crate) struct Outcome {
    pub(crate) pieces: Vec<Piece>,
    pub(crate) next: Next,
}

impl Outcome {
    pub(crate) fn done(out: Vec<u8>) -> Self {
        Self {
            pieces: vec![Piece::Bytes(out)],
            next: Next::Continue,
        }
    }
}

pub(crate) fn store_failure(out: &mut Vec<u8>, tag: &str, e: &StoreError) {
    // An account's count limit (mailboxes, subscriptions) is the client's to hear, not a
    // failure: RFC 9051 §7.1 LIMIT.
    if let StoreError::Limit(why) = e {
        return tagged(out, tag, "NO", &format!("[LIMIT] {why}"));
    }
    tracing::error!("store failure: {e}");
    tagged(
        out,
        tag,
        "NO",
        "[UNAVAILABLE] Temporary server failure, try again later",
    );
}

impl Session {
    pub(crate) fn new(shared: Arc<ImapShared>, info: ConnInfo) -> Self {
        Self {
            shared,
            info,
            state: State::NotAuthenticated,
            condstore: false,
            qresync: false,
            rev2: false,
            utf8: false,
            saved: Vec::new(),
            compressed: false,
            session_slot: None,
            idle_slot: None,
        }
    }

    pub(crate) fn is_authenticated(&self) -> bool {
        !matches!(self.state, State::NotAuthenticated)
    }

    /// RFC 9051 §11.1 / RFC 8314: passwords only over TLS, unless the configuration allows
    /// them in the clear (by default from loopback only).
    pub(crate) fn login_allowed(&self) -> bool {
        self.info.tls.is_some()
            || self
                .shared
                .settings
                .plaintext
                .allows(self.info.is_loopback())
    }

    /// What this version offers (RFC 9051 §7.2.2), as the current state allows.
    pub(crate) fn capabilities(&self) -> String {
        let append_limit = format!("APPENDLIMIT={}", self.shared.settings.append_limit);
        let mut caps = vec![
            "IMAP4rev1",
            "IMAP4rev2",
            "LITERAL+",
            "MULTIAPPEND",
            "SASL-IR",
            "UNSELECT",
            "UIDPLUS",
            "MOVE",
            "IDLE",
            "ID",
            "NAMESPACE",
            "ENABLE",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "CONDSTORE",
            "QRESYNC",
            "CHILDREN",
            "CREATE-SPECIAL-USE",
            "OBJECTID",
            "COMPRESS=DEFLATE",
            "ESEARCH",
            "SEARCHRES",
            "UTF8=ACCEPT",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "SPECIAL-USE",
            "STATUS=SIZE",
            "SORT",
            "SORT=DISPLAY",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "BINARY",
            append_limit.as_str(),
        ];
        if !self.is_authenticated() {
            if self.info.tls.is_none() {
                caps.push("STARTTLS");
            }
            if self.login_allowed() {
                caps.push("AUTH=PLAIN");
            } else {
                caps.push("LOGINDISABLED");
            }
        }
        caps.join(" ")
    }

    pub(crate) fn greeting(&self) -> Vec<u8> {
        let mut out = Vec::new();
        untagged(
            &mut out,
            &format!(
                "OK [CAPABILITY {}] {} Tern IMAP ready",
                self.capabilities(),
                self.shared.settings.hostname
            ),
        );
        out
    }

    pub(crate) fn tls_started(&mut self, description: String) {
        self.info.tls = Some(description);
    }

    pub(crate) async fn command(&mut self, tag: &str, mut request: Request) -> Outcome {
        let mut out = Vec::new();
        self.expand_saved(&mut request);
        let next = match request {
            Request::Capability => {
                untagged(&mut out, &format!("CAPABILITY {}", self.capabilities()));
                tagged(&mut out, tag, "OK", "CAPABILITY completed");
                Next::Continue
            }
            Request::Idle if !self.is_authenticated() => {
                tagged(&mut out, tag, "BAD", "Log in first");
                Next::Continue
            }
            Request::Idle => {
                let (users, max) = (
                    self.shared.users.clone(),
                    self.shared.settings.max_idle_per_user,
                );
                let slot = self.account().and_then(|a| users.idle(a.id, max));
                if slot.is_none() {
                    tagged(
                        &mut out,
                        tag,
                        "NO",
                        "[LIMIT] Too many IDLE sessions for this account",
                    );
                    return Outcome::done(out);
                }
                self.idle_slot = slot;
                // The changes waiting now follow the continuation: the connection looks once
                // it watches the store (`conn.rs`), so none falls between a look and the watch
                // (RFC 2177: untagged responses may come at any time while idling).
                out.extend_from_slice(b"+ idling\r\n");
                Next::Idle(tag.to_string())
            }
            Request::Id => {
                // RFC 2971 §3.3: the server's own identification, nothing secret.
                untagged(&mut out, "ID (\"name\" \"Tern\" \"vendor\" \"Tern\")");
                tagged(&mut out, tag, "OK", "ID completed");
                Next::Continue
            }
            Request::Namespace if !self.is_authenticated() => {
                tagged(&mut out, tag, "BAD", "Log in first");
                Next::Continue
            }
            Request::Namespace => {
                // RFC 2342 §5: one personal namespace, no prefix, "/" between levels.
                untagged(&mut out, "NAMESPACE ((\"\" \"/\")) NIL NIL");
                tagged(&mut out, tag, "OK", "NAMESPACE completed");
                Next::Continue
            }
            Request::GetQuotaRoot { mailbox } => {
                self.get_quota_root(&mut out, tag, &mailbox).await;
                Next::Continue
            }
            Request::GetQuota { root } => {
                self.get_quota(&mut out, tag, &root).await;
                Next::Continue
            }
            Request::SetQuota => {
                tagged(
                    &mut out,
                    tag,
                    "NO",
                    "[NOPERM] Quotas are set by the mail administrator",
                );
                Next::Continue
            }
            Request::Enable(_) if !self.is_authenticated() => {
                tagged(&mut out, tag, "BAD", "Log in first");
                Next::Continue
            }
            Request::Enable(asked) => {
                // RFC 5161 §3.1: ENABLED lists what was enabled of what was asked: CONDSTORE
                // and QRESYNC (RFC 7162 §3.1, §3.2.3; QRESYNC implies CONDSTORE), IMAP4rev2
                // (RFC 9051 §6.3.1) and UTF8=ACCEPT (RFC 6855 §3, which IMAP4rev2 includes).
                let wants = |name: &str| asked.iter().any(|c| c.eq_ignore_ascii_case(name));
                let mut enabled = String::from("ENABLED");
                let mut highest = Vec::new();
                if wants("IMAP4rev2") {
                    self.rev2 = true;
                    self.utf8 = true;
                    enabled.push_str(" IMAP4rev2");
                }
                if wants("UTF8=ACCEPT") {
                    self.utf8 = true;
                    enabled.push_str(" UTF8=ACCEPT");
                }
                if wants("CONDSTORE") {
                    self.enable_condstore(&mut highest);
                    enabled.push_str(" CONDSTORE");
                }
                if wants("QRESYNC") {
                    self.enable_condstore(&mut highest);
                    self.qresync = true;
                    enabled.push_str(" QRESYNC");
                }
                untagged(&mut out, &enabled);
                out.extend_from_slice(&highest);
                tagged(&mut out, tag, "OK", "ENABLE completed");
                Next::Continue
            }
            Request::Noop | Request::Check => {
                self.refresh(&mut out).await;
                tagged(&mut out, tag, "OK", "Done");
                Next::Continue
            }
            Request::Logout => {
                untagged(&mut out, "BYE Logging out");
                tagged(&mut out, tag, "OK", "LOGOUT completed");
                Next::Close
            }
            Request::StartTls if self.info.tls.is_some() || self.is_authenticated() => {
                tagged(
                    &mut out,
                    tag,
                    "BAD",
                    "STARTTLS is only for an unencrypted connection before login",
                );
                Next::Continue
            }
            Request::StartTls => {
                tagged(&mut out, tag, "OK", "Begin TLS negotiation now");
                Next::StartTls
            }
            Request::Compress if !self.is_authenticated() => {
                tagged(&mut out, tag, "BAD", "Log in first");
                Next::Continue
            }
            Request::Compress if self.compressed => {
                // RFC 4978 §3.
                tagged(
                    &mut out,
                    tag,
                    "NO",
                    "[COMPRESSIONACTIVE] DEFLATE is already on",
                );
                Next::Continue
            }
            Request::Compress => {
                self.compressed = true;
                tagged(&mut out, tag, "OK", "DEFLATE active");
                Next::Compress
            }
            Request::Login { user, password } => {
                self.login(&mut out, tag, user, Secret::new(password)).await;
                Next::Continue
            }
            Request::AuthenticatePlain { initial } => {
                return self.authenticate_plain(tag, initial).await;
            }
            Request::AuthenticateOther => {
                tagged(
                    &mut out,
                    tag,
                    "NO",
                    "[CANNOT] Only AUTHENTICATE PLAIN is supported",
                );
                Next::Continue
            }
            Request::Select {
                mailbox,
                read_only,
                condstore,
                qresync,
            } => {
                self.condstore |= condstore;
                self.select(&mut out, tag, &mailbox, read_only, qresync)
                    .await;
                Next::Continue
            }
            Request::List { reference, pattern } => {
                let options = ListOptions::default();
                self.list(&mut out, tag, &reference, &[pattern], &options, "LIST")
                    .await;
                Next::Continue
            }
            Request::Lsub { reference, pattern } => {
                let options = ListOptions {
                    subscribed_only: true,
                    ..ListOptions::default()
                };
                self.list(&mut out, tag, &reference, &[pattern], &options, "LSUB")
                    .await;
                Next::Continue
            }
            Request::Store {
                set,
                op,
                flags,
                silent,
                uid,
                unchanged_since,
            } => {
                self.store(
                    &mut out,
                    tag,
                    &set,
                    op,
                    &flags,
                    silent,
                    uid,
                    unchanged_since,
                )
                .await;
                Next::Continue
            }
            Request::Expunge { uids } => {
                self.expunge(&mut out, tag, uids.as_ref()).await;
                Next::Continue
            }
            Request::Create { mailbox, uses } => {
                self.create(&mut out, tag, &mailbox, &uses).await;
                Next::Continue
            }
            Request::Delete { mailbox } => {
                self.delete(&mut out, tag, &mailbox).await;
                Next::Continue
            }
            Request::Rename { from, to } => {
                self.rename(&mut out, tag, &from, &to).await;
                Next::Continue
            }
            Request::Subscribe { mailbox, subscribe } => {
                self.subscribe(&mut out, tag, &mailbox, subscribe).await;
                Next::Continue
            }
            Request::Status { mailbox, items } => {
                self.status(&mut out, tag, &mailbox, &items).await;
                Next::Continue
            }
            Request::Copy {
                set,
                to,
                uid,
                remove,
            } => {
                self.copy(&mut out, tag, &set, &to, uid, remove).await;
                Next::Continue
            }
            Request::Append { mailbox, messages } => {
                self.append(&mut out, tag, &mailbox, messages).await;
                Next::Continue
            }
            Request::Sort {
                order,
                key,
                charset_ok,
                uid,
            } => {
                self.sort(&mut out, tag, &order, key, charset_ok, uid).await;
                Next::Continue
            }
            Request::Thread {
                ordered_subject,
                key,
                charset_ok,
                uid,
            } => {
                self.thread(&mut out, tag, ordered_subject, key, charset_ok, uid)
                    .await;
                Next::Continue
            }
            Request::Search {
                key,
                charset_ok,
                uid,
                returning,
            } => {
                self.search(&mut out, tag, key, charset_ok, uid, returning)
                    .await;
                Next::Continue
            }
            Request::ListExtended {
                reference,
                patterns,
                options,
            } => {
                self.list(&mut out, tag, &reference, &patterns, &options, "LIST")
                    .await;
                Next::Continue
            }
            Request::BadFlag => {
                tagged(
                    &mut out,
                    tag,
                    "BAD",
                    "A flag that cannot be set (\\Recent or an unknown system flag)",
                );
                Next::Continue
            }
            Request::Fetch {
                set,
                items,
                uid,
                changed_since,
                vanished,
            } => {
                let vanished = match (vanished, changed_since) {
                    (false, _) => None,
                    // RFC 7162 §3.2.6: VANISHED only with UID FETCH, CHANGEDSINCE, and after
                    // ENABLE QRESYNC.
                    (true, Some(since)) if uid && self.qresync => Some(since),
                    (true, _) => {
                        tagged(
                            &mut out,
                            tag,
                            "BAD",
                            "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC",
                        );
                        return Outcome::done(out);
                    }
                };
                if let Some(since) = vanished {
                    if let Err(e) = self.tell_vanished(&mut out, since, Some(&set)).await {
                        store_failure(&mut out, tag, &e);
                        return Outcome::done(out);
                    }
                }
                return self.fetch(out, tag, &set, &items, uid, changed_since).await;
            }
            Request::Close | Request::Unselect => {
                self.close(&mut out, tag, matches!(request, Request::Close))
                    .await;
                Next::Continue
            }
            Request::NotYet(what) => {
                tagged(
                    &mut out,
                    tag,
                    "NO",
                    &format!("[CANNOT] {what} is not available in this version of Tern"),
                );
                Next::Continue
            }
        };
        Outcome {
            pieces: vec![Piece::Bytes(out)],
            next,
        }
    }

    /// RFC 7162 §3.1: the first command that uses CONDSTORE turns it on; with a mailbox
    /// selected the client is then told its HIGHESTMODSEQ.
    pub(crate) fn enable_condstore(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.condstore, true) {
            return;
        }
        if let State::Selected(_, selected) = &self.state {
            untagged(
                out,
                &format!("OK [HIGHESTMODSEQ {}] Highest", selected.modseq.0.max(1)),
            );
        }
    }

    pub(crate) fn account(&self) -> Option<&AccountAuth> {
        match &self.state {
            State::NotAuthenticated => None,
            State::Authenticated(a) | State::Selected(a, _) => Some(a),
        }
    }

    /// How strings are written for this client: UTF-8 once it has enabled IMAP4rev2 or
    /// UTF8=ACCEPT, otherwise non-ASCII text encoded.
    pub(crate) fn strings(&self) -> ImapStrings {
        ImapStrings { utf8: self.utf8 }
    }

    /// A mailbox name as the client wrote it, in UTF-8 (as stored): INBOX in any case; others
    /// in UTF-8 after ENABLE IMAP4rev2 or UTF8=ACCEPT (RFC 9051 §5.1, RFC 6855 §3), in
    /// modified UTF-7 (RFC 3501 §5.1.3) decoded strictly before.
    pub(crate) fn decode_name(&self, name: &str) -> Result<String, names::NameError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok("INBOX".to_string());
        }
        match self.utf8 {
            true => Ok(name.to_string()),
            false => names::decode_utf7(name),
        }
    }

    /// A stored mailbox name as this client reads it (the inverse of [`Self::decode_name`]).
    pub(crate) fn encode_name(&self, name: &str) -> String {
        match self.utf8 {
            true => name.to_string(),
            false => names::encode_utf7(name),
        }
    }

    /// The mailbox a client names, looked up (see [`Self::decode_name`]).
    pub(crate) async fn find_mailbox(&self, name: &str) -> Result<MailboxInfo, String> {
        let Some(account) = self.account() else {
            return Err("Log in first".into());
        };
        let decoded = self
            .decode_name(name)
            .map_err(|e| format!("Bad mailbox name: {e}"))?;
        match self
            .shared
            .stores
            .mailboxes
            .mailbox(account.id, &decoded)
            .await
        {
            Ok(mailbox) => Ok(mailbox),
            Err(StoreError::NotFound(_)) => Err("[NONEXISTENT] No such mailbox".into()),
            Err(e) => {
                tracing::error!("store failure: {e}");
                Err("[UNAVAILABLE] Temporary server failure, try again later".into())
            }
        }
    }

    /// Puts the messages of the saved search result (RFC 5182) where the request has `$`:
    /// those still in the mailbox, as UIDs or as this session's message numbers by where the
    /// set stands; an empty result matches nothing (§2.1: a valid, non-matching set).
    fn expand_saved(&self, request: &mut Request) {
        let State::Selected(_, selected) = &self.state else {
            return;
        };
        let uid_command = match request {
            Request::Fetch { uid, .. } | Request::Store { uid, .. } | Request::Copy { uid, .. } => {
                *uid
            }
            _ => true,
        };
        // Built once each (numbers, UIDs) and shared by every `$` of the command: a command
        // of thousands of `$` holds one copy of the result, not thousands.
        let mut built: [Option<Set>; 2] = [None, None];
        request.visit_sets(&mut |set, kind| {
            if !set.is_saved() {
                return;
            }
            let by_uid = match kind {
                SetKind::Command => uid_command,
                SetKind::SequenceKey => false,
                SetKind::UidKey => true,
            };
            *set = built[usize::from(by_uid)]
                .get_or_insert_with(|| {
                    // The saved messages still here, as UIDs or message numbers.
                    Set::of(self.saved.iter().filter_map(|uid| {
                        let at = selected.uids.binary_search(uid).ok()?;
                        Some(if by_uid { uid.0 } else { at as u32 + 1 })
                    }))
                })
                .clone();
        });
    }

    /// The client ended IDLE: its slot goes back.
    pub(crate) fn idle_done(&mut self) {
        self.idle_slot = None;
    }

    /// The mailbox IDLE watches.
    pub(crate) fn selected_mailbox(&self) -> Option<MailboxId> {
        match &self.state {
            State::Selected(_, selected) => Some(selected.mailbox.id),
            _ => None,
        }
    }

    /// The UIDs a sequence set names in this session, in order (RFC 9051 §6.4.5: a set with
    /// numbers out of range is an error for message numbers, ignored for UIDs).
    pub(crate) fn resolve(uids: &[Uid], set: &Set, by_uid: bool) -> Result<Vec<Uid>, &'static str> {
        let last = if by_uid {
            uids.last().map_or(0, |u| u.0)
        } else {
            uids.len() as u32
        };
        let mut picked = vec![false; uids.len()];
        for (lo, hi) in set.merged(last) {
            if by_uid {
                let start = uids.partition_point(|u| u.0 < lo);
                let end = uids.partition_point(|u| u.0 <= hi);
                picked[start..end].iter_mut().for_each(|p| *p = true);
            } else {
                if lo == 0 || hi as usize > uids.len() {
                    return Err("Invalid message sequence number");
                }
                picked[lo as usize - 1..hi as usize]
                    .iter_mut()
                    .for_each(|p| *p = true);
            }
        }
        Ok(uids
            .iter()
            .zip(picked)
            .filter_map(|(u, p)| p.then_some(*u))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Bound;

    #[test]
    fn sequence_sets_resolve_to_uids() {
        let uids = [Uid(3), Uid(7), Uid(9), Uid(20)];
        let set = |v: &[(Bound, Bound)]| Set(v.into());
        use Bound::{Last, Value};
        assert_eq!(
            Session::resolve(&uids, &set(&[(Value(2), Value(3))]), false),
            Ok(vec![Uid(7), Uid(9)])
        );
        assert_eq!(
            Session::resolve(&uids, &set(&[(Value(4), Last)]), false),
            Ok(vec![Uid(20)])
        );
        assert!(Session::resolve(&uids, &set(&[(Value(5), Value(5))]), false).is_err());
        assert_eq!(
            Session::resolve(&uids, &set(&[(Value(8), Value(100))]), true),
            Ok(vec![Uid(9), Uid(20)])
        );
        assert_eq!(
            Session::resolve(&uids, &set(&[(Last, Value(10))]), true),
            Ok(vec![Uid(20)])
        );
        assert_eq!(
            Session::resolve(&[], &set(&[(Value(1), Last)]), true),
            Ok(vec![])
        );
    }
}
