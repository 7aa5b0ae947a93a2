//! The session: its state (RFC 9051 §3: not authenticated, authenticated, selected, logout)
//! and the commands of this version, answered into an output buffer, with message bodies as
//! [`Piece::Message`] for the connection to stream from the store.

use std::sync::Arc;

use base64::Engine;
use tern_auth::{decode_plain, LoginError, Secret};
use tern_message::mime::{body_structure, imap_envelope, ImapStrings};
use tern_net::ConnInfo;
use tern_store::{AccountAuth, FlagOp, MailboxInfo, MessageRecord, StoreError};
use tern_types::{Flag, Flags, MailboxId, ModSeq, Uid};

use crate::extended::{ListOptions, SearchReturn};
use crate::list;
use crate::names;
use crate::request::{Item, Label, Request, Resync, Set};
use crate::respond::{string, tagged, untagged};
use crate::section::{header_fields, BodySection};
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
}

impl Selected {
    /// RFC 3501 §7.2.6 / RFC 9051 §7.3.5: FLAGS lists the flags in use in the mailbox, the
    /// keywords too, and is sent again when a keyword appears; PERMANENTFLAGS with it.
    pub(crate) fn announce_keywords<'a>(
        &mut self,
        out: &mut Vec<u8>,
        records: impl IntoIterator<Item = &'a MessageRecord>,
    ) {
        let before = self.keywords.len();
        for record in records {
            for flag in record.flags.iter() {
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

    fn flags_line(&self) -> String {
        format!(
            "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{})",
            self.keyword_list()
        )
    }

    fn permanent_flags_line(&self) -> String {
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
    /// RFC 4978: COMPRESS DEFLATE is on; a second COMPRESS is refused.
    compressed: bool,
    /// This session's share of its account's limits (`max_sessions_per_user`, and one IDLE).
    session_slot: Option<Slot>,
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

/// IMAP4rev1 strings for clients: names in modified UTF-7, non-ASCII text encoded (this
/// version does not offer IMAP4rev2 or UTF8=ACCEPT yet).
pub(crate) const STRINGS: ImapStrings = ImapStrings { utf8: false };

pub(crate) fn store_failure(out: &mut Vec<u8>, tag: &str, e: &StoreError) {
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
    fn login_allowed(&self) -> bool {
        self.info.tls.is_some()
            || self
                .shared
                .settings
                .plaintext
                .allows(self.info.is_loopback())
    }

    /// What this version offers (RFC 9051 §7.2.2), as the current state allows.
    fn capabilities(&self) -> String {
        let append_limit = format!("APPENDLIMIT={}", self.shared.settings.append_limit);
        let mut caps = vec![
            "IMAP4rev1",
            "LITERAL+",
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

    pub(crate) async fn command(&mut self, tag: &str, request: Request) -> Outcome {
        let mut out = Vec::new();
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
                self.refresh(&mut out).await;
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
                // RFC 5161 §3.1: ENABLED lists what was enabled of what was asked; CONDSTORE
                // and QRESYNC are the extensions here that can be (RFC 7162 §3.1, §3.2.3;
                // QRESYNC implies CONDSTORE).
                let wants = |name: &str| asked.iter().any(|c| c.eq_ignore_ascii_case(name));
                let mut enabled = String::from("ENABLED");
                let mut highest = Vec::new();
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
            Request::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                self.append(&mut out, tag, &mailbox, flags, date, message)
                    .await;
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

    async fn login(&mut self, out: &mut Vec<u8>, tag: &str, user: String, password: Secret) {
        if self.is_authenticated() {
            tagged(out, tag, "BAD", "Already logged in");
            return;
        }
        if !self.login_allowed() {
            // RFC 9051 §6.2.3 / §7.1: LOGINDISABLED; PRIVACYREQUIRED says why.
            tagged(
                out,
                tag,
                "NO",
                "[PRIVACYREQUIRED] Use STARTTLS or the IMAPS port first",
            );
            return;
        }
        let shared = self.shared.clone();
        let lookup = shared
            .stores
            .directory
            .login_account(&user, shared.settings.recipients);
        match shared
            .auth
            .login(self.info.peer.ip(), &user, password, lookup)
            .await
        {
            Ok(account) => {
                let max = shared.settings.max_sessions_per_user;
                let Some(slot) = shared.users.session(account.id, max) else {
                    tracing::info!(user = %account.address, "too many sessions");
                    // RFC 9051 §7.1 LIMIT.
                    return tagged(out, tag, "NO", "[LIMIT] Too many sessions for this account");
                };
                self.session_slot = Some(slot);
                tracing::info!(user = %account.address, "logged in");
                self.state = State::Authenticated(account);
                tagged(
                    out,
                    tag,
                    "OK",
                    &format!("[CAPABILITY {}] Logged in", self.capabilities()),
                );
            }
            Err(LoginError::Throttled(why)) => {
                tracing::info!(user = %user, "login refused: {why}");
                tagged(
                    out,
                    tag,
                    "NO",
                    "[UNAVAILABLE] Too many failed logins; try again later",
                );
            }
            Err(LoginError::Invalid) => {
                tracing::info!(user = %user, "login failed");
                tagged(
                    out,
                    tag,
                    "NO",
                    "[AUTHENTICATIONFAILED] Invalid user name or password",
                );
            }
            Err(LoginError::Lookup(e)) => {
                let e: StoreError = e;
                store_failure(out, tag, &e);
            }
        }
    }

    async fn authenticate_plain(&mut self, tag: &str, initial: Option<Vec<u8>>) -> Outcome {
        let mut out = Vec::new();
        if self.is_authenticated() {
            tagged(&mut out, tag, "BAD", "Already logged in");
            return Outcome::done(out);
        }
        if !self.login_allowed() {
            tagged(
                &mut out,
                tag,
                "NO",
                "[PRIVACYREQUIRED] Use STARTTLS or the IMAPS port first",
            );
            return Outcome::done(out);
        }
        match initial {
            Some(raw) => {
                self.sasl_plain(&mut out, tag, &raw).await;
                Outcome::done(out)
            }
            None => {
                out.extend_from_slice(b"+ \r\n");
                Outcome {
                    pieces: vec![Piece::Bytes(out)],
                    next: Next::AuthData(tag.to_string()),
                }
            }
        }
    }

    /// The client's line after `+` (already base64-decoded), or `None` for `*` (cancel).
    pub(crate) async fn auth_data(&mut self, tag: &str, data: Option<Vec<u8>>) -> Outcome {
        let mut out = Vec::new();
        match data {
            Some(raw) => self.sasl_plain(&mut out, tag, &raw).await,
            None => tagged(&mut out, tag, "BAD", "Authentication cancelled"),
        }
        Outcome::done(out)
    }

    async fn sasl_plain(&mut self, out: &mut Vec<u8>, tag: &str, raw: &[u8]) {
        // decode_plain takes the wire form; the codec has already decoded it.
        let text = base64::engine::general_purpose::STANDARD.encode(raw);
        match decode_plain(&text) {
            Ok(c) => self.login(out, tag, c.username, c.password).await,
            Err(e) => tagged(out, tag, "NO", &format!("[AUTHENTICATIONFAILED] {e}")),
        }
    }

    /// The mailbox a client names: INBOX in any case, others in modified UTF-7 (RFC 3501
    /// §5.1.3) decoded strictly.
    pub(crate) async fn find_mailbox(&self, name: &str) -> Result<MailboxInfo, String> {
        let Some(account) = self.account() else {
            return Err("Log in first".into());
        };
        let decoded = if name.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_string()
        } else {
            names::decode_utf7(name).map_err(|e| format!("Bad mailbox name: {e}"))?
        };
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

    async fn select(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        name: &str,
        read_only: bool,
        resync: Option<Resync>,
    ) {
        let Some(account) = self.account().cloned() else {
            tagged(out, tag, "BAD", "Log in first");
            return;
        };
        if resync.is_some() && !self.qresync {
            // RFC 7162 §3.2.5.
            return tagged(out, tag, "BAD", "QRESYNC needs ENABLE QRESYNC first");
        }
        if matches!(self.state, State::Selected(..)) {
            // RFC 7162 §3.2.11 / RFC 9051 §7.1: what follows is of the new mailbox.
            untagged(out, "OK [CLOSED] Previous mailbox closed");
        }
        // RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected.
        self.state = State::Authenticated(account.clone());
        let mailbox = match self.find_mailbox(name).await {
            Ok(mailbox) => mailbox,
            Err(why) => {
                tagged(out, tag, "NO", &why);
                return;
            }
        };
        let records = match self
            .shared
            .stores
            .mailboxes
            .messages(mailbox.id, Uid(1))
            .await
        {
            Ok(records) => records,
            Err(e) => return store_failure(out, tag, &e),
        };
        let modseq = records
            .iter()
            .map(|r| r.modseq)
            .max()
            .unwrap_or(ModSeq(0))
            .max(mailbox.highest_modseq);
        let mut selected = Selected {
            mailbox,
            read_only,
            uids: records.iter().map(|r| r.uid).collect(),
            modseq,
            keywords: Default::default(),
        };
        selected.announce_keywords(&mut Vec::new(), &records);
        // RFC 9051 §6.3.2 / RFC 3501 §6.3.1: FLAGS, EXISTS, (RECENT), UNSEEN, UIDVALIDITY,
        // UIDNEXT, PERMANENTFLAGS, then the tagged OK with the access mode.
        untagged(out, &selected.flags_line());
        untagged(out, &format!("{} EXISTS", records.len()));
        untagged(out, "0 RECENT");
        if let Some(first) = records.iter().position(|r| !r.flags.contains(&Flag::Seen)) {
            untagged(out, &format!("OK [UNSEEN {}] First unseen", first + 1));
        }
        let mailbox = &selected.mailbox;
        untagged(
            out,
            &format!("OK [UIDVALIDITY {}] UIDs valid", mailbox.uid_validity.0),
        );
        untagged(
            out,
            &format!("OK [UIDNEXT {}] Predicted next UID", mailbox.uid_next.0),
        );
        // RFC 8474 §4.1.
        untagged(
            out,
            &format!(
                "OK [MAILBOXID ({})] Ok",
                crate::respond::mailbox_id(mailbox)
            ),
        );
        // RFC 7162 §3.1.2.1: every SELECT of a mailbox with persistent mod-sequences says it.
        let highest = records
            .iter()
            .map(|r| r.modseq)
            .max()
            .unwrap_or(ModSeq(0))
            .max(mailbox.highest_modseq);
        untagged(
            out,
            &format!("OK [HIGHESTMODSEQ {}] Highest", highest.0.max(1)),
        );
        untagged(out, &selected.permanent_flags_line());
        if let Some(resync) = resync.filter(|r| r.uid_validity == mailbox.uid_validity.0) {
            if let Err(e) = self.resync(out, mailbox, &records, &resync).await {
                return store_failure(out, tag, &e);
            }
        }
        let mode = if read_only {
            "[READ-ONLY]"
        } else {
            "[READ-WRITE]"
        };
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        tagged(out, tag, "OK", &format!("{mode} {verb} completed"));
        self.state = State::Selected(account, selected);
    }

    /// What changed in the selected mailbox since the session last looked (the change log,
    /// by MODSEQ): expunged messages as EXPUNGE, new ones as EXISTS, other sessions' flag
    /// changes as FETCH FLAGS (RFC 9051 §7.4.1, §7.5.1, §7.5.2). Sent only where RFC 9051
    /// §7 allows expunges to be announced: NOOP, CHECK, IDLE.
    pub(crate) async fn refresh(&mut self, out: &mut Vec<u8>) {
        let State::Selected(_, selected) = &mut self.state else {
            return;
        };
        let Ok(changes) = self
            .shared
            .stores
            .mailboxes
            .changes_since(selected.mailbox.id, selected.modseq)
            .await
        else {
            return;
        };
        forget_uids(out, selected, &changes.expunged, self.qresync);
        selected.announce_keywords(out, &changes.changed);
        let known = selected.uids.last().copied().unwrap_or(Uid(0));
        let mut added = false;
        for record in &changes.changed {
            if record.uid > known {
                selected.uids.push(record.uid);
                added = true;
            } else if let Ok(index) = selected.uids.binary_search(&record.uid) {
                let names: Vec<String> = record.flags.iter().map(|f| f.to_string()).collect();
                let modseq = match self.condstore {
                    true => format!(" MODSEQ ({})", record.modseq.0),
                    false => String::new(),
                };
                untagged(
                    out,
                    &format!(
                        "{} FETCH (FLAGS ({}) UID {}{modseq})",
                        index + 1,
                        names.join(" "),
                        record.uid.0
                    ),
                );
            }
        }
        if added {
            untagged(out, &format!("{} EXISTS", selected.uids.len()));
        }
        selected.modseq = selected.modseq.max(changes.highest_modseq);
    }

    /// RFC 7162 §3.2.5.1: after SELECT's own responses, what a QRESYNC client missed since
    /// the MODSEQ it knew: VANISHED (EARLIER), then FETCH of the messages changed since.
    async fn resync(
        &self,
        out: &mut Vec<u8>,
        mailbox: &MailboxInfo,
        records: &[MessageRecord],
        resync: &Resync,
    ) -> Result<(), StoreError> {
        let changes = self
            .shared
            .stores
            .mailboxes
            .changes_since(mailbox.id, ModSeq(resync.modseq))
            .await?;
        let present: Vec<Uid> = records.iter().map(|r| r.uid).collect();
        let known = resync.known_uids.as_ref();
        let gone =
            crate::vanished::since(&changes, resync.modseq, &present, mailbox.uid_next, known);
        if !gone.is_empty() {
            untagged(
                out,
                &format!("VANISHED (EARLIER) {}", crate::respond::sequence_set(&gone)),
            );
        }
        let last = mailbox.uid_next.0.saturating_sub(1);
        for record in &changes.changed {
            if known.is_some_and(|set| !set.contains(record.uid.0, last)) {
                continue;
            }
            let Ok(index) = present.binary_search(&record.uid) else {
                continue;
            };
            let names: Vec<String> = record.flags.iter().map(|f| f.to_string()).collect();
            untagged(
                out,
                &format!(
                    "{} FETCH (UID {} FLAGS ({}) MODSEQ ({}))",
                    index + 1,
                    record.uid.0,
                    names.join(" "),
                    record.modseq.0
                ),
            );
        }
        Ok(())
    }

    /// RFC 7162 §3.2.6: UID FETCH (CHANGEDSINCE n VANISHED) first names the UIDs of `set`
    /// expunged since n, as VANISHED (EARLIER).
    async fn tell_vanished(
        &self,
        out: &mut Vec<u8>,
        since: u64,
        set: Option<&Set>,
    ) -> Result<(), StoreError> {
        let State::Selected(_, selected) = &self.state else {
            return Ok(());
        };
        let mailboxes = &self.shared.stores.mailboxes;
        let changes = mailboxes
            .changes_since(selected.mailbox.id, ModSeq(since))
            .await?;
        // Below the log's floor the answer is worked out from what the mailbox holds now.
        let present: Vec<Uid> = match since < changes.log_floor.0 {
            true => mailboxes
                .messages(selected.mailbox.id, Uid(1))
                .await?
                .iter()
                .map(|r| r.uid)
                .collect(),
            false => Vec::new(),
        };
        let gone = crate::vanished::since(&changes, since, &present, changes.uid_next, set);
        if !gone.is_empty() {
            untagged(
                out,
                &format!("VANISHED (EARLIER) {}", crate::respond::sequence_set(&gone)),
            );
        }
        Ok(())
    }

    /// What SEARCH, SORT and THREAD share: a selected mailbox, a known charset and known keys,
    /// then the search; `None` once the refusal has been written.
    async fn matching(
        &self,
        out: &mut Vec<u8>,
        tag: &str,
        key: Option<crate::search::Key>,
        charset_ok: bool,
    ) -> Option<(crate::search::Key, Vec<(Uid, u64)>)> {
        let State::Selected(_, selected) = &self.state else {
            tagged(out, tag, "BAD", "No mailbox selected");
            return None;
        };
        if !charset_ok {
            tagged(
                out,
                tag,
                "NO",
                "[BADCHARSET (UTF-8 US-ASCII)] Unknown charset",
            );
            return None;
        }
        let Some(key) = key else {
            tagged(
                out,
                tag,
                "NO",
                "[CANNOT] A search key this version does not know",
            );
            return None;
        };
        let stores = &self.shared.stores;
        match crate::search::run(stores, selected.mailbox.id, &selected.uids, &key).await {
            Ok(found) => Some((key, found)),
            Err(e) => {
                store_failure(out, tag, &e);
                None
            }
        }
    }

    /// ` n n n`: UIDs, or this session's sequence numbers of them.
    fn numbers(&self, uids: impl Iterator<Item = Uid>, by_uid: bool) -> String {
        let State::Selected(_, selected) = &self.state else {
            return String::new();
        };
        uids.filter_map(|uid| match by_uid {
            true => Some(uid.0 as usize),
            false => selected.uids.binary_search(&uid).ok().map(|i| i + 1),
        })
        .map(|n| format!(" {n}"))
        .collect()
    }

    async fn search(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        key: Option<crate::search::Key>,
        charset_ok: bool,
        by_uid: bool,
        returning: Option<SearchReturn>,
    ) {
        let Some((key, found)) = self.matching(out, tag, key, charset_ok).await else {
            return;
        };
        // RFC 7162 §3.1.5: a MODSEQ search answers with the highest mod-sequence it found.
        let highest = match key.uses_modseq() {
            true => found.iter().map(|(_, m)| *m).max(),
            false => None,
        };
        if key.uses_modseq() {
            self.enable_condstore(out);
        }
        if let Some(returning) = returning {
            let numbers: Vec<u32> = self
                .numbers(found.iter().map(|(u, _)| *u), by_uid)
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            // RFC 7162 §3.1.10: with only MIN and/or MAX, the mod-sequence of the messages
            // returned; with ALL or COUNT, the highest of all that matched.
            let highest = match (highest, returning.all || returning.count) {
                (Some(_), false) => {
                    let ends = [
                        found.first().filter(|_| returning.min),
                        found.last().filter(|_| returning.max),
                    ];
                    ends.into_iter().flatten().map(|(_, m)| *m).max()
                }
                (highest, _) => highest,
            };
            let line = esearch(tag, by_uid, &numbers, returning, highest);
            untagged(out, &line);
            return tagged(out, tag, "OK", "SEARCH completed");
        }
        let mut line = format!(
            "SEARCH{}",
            self.numbers(found.iter().map(|(u, _)| *u), by_uid)
        );
        if let Some(highest) = highest {
            line.push_str(&format!(" (MODSEQ {highest})"));
        }
        untagged(out, &line);
        tagged(out, tag, "OK", "SEARCH completed");
    }

    async fn sort(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        order: &crate::sort::Order,
        key: Option<crate::search::Key>,
        charset_ok: bool,
        by_uid: bool,
    ) {
        let Some((_, found)) = self.matching(out, tag, key, charset_ok).await else {
            return;
        };
        let State::Selected(_, selected) = &self.state else {
            return;
        };
        let found: Vec<Uid> = found.into_iter().map(|(uid, _)| uid).collect();
        let stores = &self.shared.stores;
        let mailbox = selected.mailbox.id;
        let sorted = match crate::sort::sort(stores, mailbox, &selected.uids, &found, order).await {
            Ok(sorted) => sorted,
            Err(e) => return store_failure(out, tag, &e),
        };
        untagged(
            out,
            &format!("SORT{}", self.numbers(sorted.into_iter(), by_uid)),
        );
        tagged(out, tag, "OK", "SORT completed");
    }

    async fn thread(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        ordered_subject: Option<bool>,
        key: Option<crate::search::Key>,
        charset_ok: bool,
        by_uid: bool,
    ) {
        let Some(ordered_subject) = ordered_subject else {
            return tagged(
                out,
                tag,
                "NO",
                "[CANNOT] The algorithms offered are ORDEREDSUBJECT and REFERENCES",
            );
        };
        let Some((_, found)) = self.matching(out, tag, key, charset_ok).await else {
            return;
        };
        let State::Selected(_, selected) = &self.state else {
            return;
        };
        let found: Vec<Uid> = found.into_iter().map(|(uid, _)| uid).collect();
        let stores = &self.shared.stores;
        let mailbox = selected.mailbox.id;
        let threads = match ordered_subject {
            true => {
                crate::thread::ordered_subject(stores, mailbox, &selected.uids, &found, by_uid)
                    .await
            }
            false => {
                crate::thread::references(stores, mailbox, &selected.uids, &found, by_uid).await
            }
        };
        match threads {
            Ok(threads) if threads.is_empty() => untagged(out, "THREAD"),
            Ok(threads) => untagged(out, &format!("THREAD {threads}")),
            Err(e) => return store_failure(out, tag, &e),
        }
        tagged(out, tag, "OK", "THREAD completed");
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

    /// LIST, LSUB and LIST-EXTENDED (RFC 9051 §6.3.9, RFC 3501 §6.3.9, RFC 5258, RFC 5819,
    /// RFC 6154 §5.1): the mailboxes matching any of the patterns, filtered and marked as
    /// the options ask.
    async fn list(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        reference: &str,
        patterns: &[String],
        options: &ListOptions,
        verb: &str,
    ) {
        let Some(account) = self.account() else {
            tagged(out, tag, "BAD", "Log in first");
            return;
        };
        // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root.
        if patterns.iter().all(String::is_empty) {
            untagged(out, &format!("{verb} (\\Noselect) \"/\" \"\""));
            tagged(out, tag, "OK", &format!("{verb} completed"));
            return;
        }
        let mut full = Vec::new();
        // A pattern that is not valid modified UTF-7 names no mailbox (every stored name
        // encodes validly): it matches nothing, it is not an error.
        for pattern in patterns.iter().filter(|p| !p.is_empty()) {
            if let Ok(decoded) = names::decode_utf7(&format!("{reference}{pattern}")) {
                full.push(decoded);
            }
        }
        let mailboxes = match self
            .shared
            .stores
            .mailboxes
            .list_mailboxes(account.id)
            .await
        {
            Ok(m) => m,
            Err(e) => return store_failure(out, tag, &e),
        };
        let mark_subscribed =
            verb == "LIST" && (options.subscribed_only || options.return_subscribed);
        for mailbox in &mailboxes {
            if !full.iter().any(|p| list::matches(p, &mailbox.name)) {
                continue;
            }
            if options.special_use_only && mailbox.special_use.is_none() {
                continue;
            }
            let below = format!("{}/", mailbox.name);
            let mut children = mailboxes.iter().filter(|m| m.name.starts_with(&below));
            let has_children = children.clone().next().is_some();
            // RFC 5258 §3.5: a parent left out by SUBSCRIBED is still named, with CHILDINFO,
            // when RECURSIVEMATCH asks and one of its children is subscribed.
            let mut child_info = false;
            if options.subscribed_only && !mailbox.subscribed {
                if !(options.recursive && children.any(|m| m.subscribed)) {
                    continue;
                }
                child_info = true;
            }
            let mut attributes = vec![if has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }];
            if let Some(special) = mailbox.special_use {
                attributes.push(special.as_str());
            }
            if mark_subscribed && mailbox.subscribed {
                attributes.push("\\Subscribed");
            }
            let name = names::encode_utf7(&mailbox.name);
            let mut line = format!("* {verb} ({}) \"/\" ", attributes.join(" ")).into_bytes();
            string(&mut line, &name, false);
            if child_info {
                line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            line.extend_from_slice(b"\r\n");
            out.extend_from_slice(&line);
            // RFC 5819 §2: the mailbox's STATUS right after its LIST response.
            if let (Some(items), false) = (&options.status, child_info) {
                match self.status_line(mailbox, items).await {
                    Ok(status) => out.extend_from_slice(&status),
                    Err(e) => return store_failure(out, tag, &e),
                }
            }
        }
        tagged(out, tag, "OK", &format!("{verb} completed"));
    }

    async fn close(&mut self, out: &mut Vec<u8>, tag: &str, expunge: bool) {
        let state = std::mem::replace(&mut self.state, State::NotAuthenticated);
        let State::Selected(account, selected) = state else {
            self.state = state;
            tagged(out, tag, "BAD", "No mailbox selected");
            return;
        };
        self.state = State::Authenticated(account);
        // RFC 9051 §6.4.1: CLOSE removes \Deleted messages silently (not in read-only mode).
        if expunge && !selected.read_only {
            let mailboxes = &self.shared.stores.mailboxes;
            let deleted: Vec<Uid> = match mailboxes.messages(selected.mailbox.id, Uid(1)).await {
                Ok(records) => records
                    .into_iter()
                    .filter(|r| r.flags.contains(&Flag::Deleted))
                    .map(|r| r.uid)
                    .collect(),
                Err(e) => return store_failure(out, tag, &e),
            };
            if !deleted.is_empty() {
                if let Err(e) = mailboxes.expunge(selected.mailbox.id, &deleted).await {
                    return store_failure(out, tag, &e);
                }
            }
        }
        tagged(out, tag, "OK", "Mailbox closed");
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
        for (lo, hi) in set.ranges(last) {
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

    async fn fetch(
        &mut self,
        mut out: Vec<u8>,
        tag: &str,
        set: &Set,
        items: &[Item],
        by_uid: bool,
        changed_since: Option<u64>,
    ) -> Outcome {
        // RFC 7162 §3.1.4: CHANGEDSINCE implies MODSEQ; either turns CONDSTORE on.
        let with_modseq = changed_since.is_some() || items.contains(&Item::ModSeq);
        if with_modseq {
            self.enable_condstore(&mut out);
        }
        let State::Selected(_, selected) = &self.state else {
            tagged(&mut out, tag, "BAD", "No mailbox selected");
            return Outcome::done(out);
        };
        let wanted = match Self::resolve(&selected.uids, set, by_uid) {
            Ok(w) => w,
            Err(why) => {
                tagged(&mut out, tag, "BAD", why);
                return Outcome::done(out);
            }
        };
        let (mailbox, read_only) = (selected.mailbox.id, selected.read_only);
        let mailboxes = self.shared.stores.mailboxes.clone();
        // RFC 9051 §6.4.5: fetching a body without .PEEK sets \Seen (not in read-only mode).
        let sets_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    Item::Body { seen: true, .. } | Item::Binary { seen: true, .. }
                )
            });
        // The messages that got \Seen so: their new flags go in their answer (RFC 3501 §6.4.5).
        let mut newly_seen = std::collections::HashSet::new();
        if sets_seen && !wanted.is_empty() {
            let seen: Flags = [Flag::Seen].into_iter().collect();
            match mailboxes
                .store_flags(mailbox, &wanted, FlagOp::Add, &seen, None)
                .await
            {
                Ok(changed) => newly_seen.extend(changed.iter().map(|r| r.uid)),
                Err(e) => {
                    store_failure(&mut out, tag, &e);
                    return Outcome::done(out);
                }
            }
        }
        let first = wanted.first().copied().unwrap_or(Uid(1));
        let records: Vec<MessageRecord> = match mailboxes.messages(mailbox, first).await {
            Ok(r) => r,
            Err(e) => {
                store_failure(&mut out, tag, &e);
                return Outcome::done(out);
            }
        };
        let mut pieces = Vec::new();
        let mut records = records.into_iter().peekable();
        let mut metas = std::collections::VecDeque::new();
        'messages: for (index, uid) in wanted.iter().enumerate() {
            while records.peek().is_some_and(|r| r.uid < *uid) {
                records.next();
            }
            // Expunged by another session meanwhile: nothing to say about it.
            let Some(record) = records.peek().filter(|r| r.uid == *uid).cloned() else {
                continue;
            };
            if changed_since.is_some_and(|since| record.modseq.0 <= since) {
                continue;
            }
            let Some(seq) = selected_seq(&self.state, *uid) else {
                continue;
            };
            let mut line = format!("* {seq} FETCH (").into_bytes();
            // Whether part of this message's answer has gone into `pieces` already: until then
            // a message expunged by another session meanwhile is left out whole.
            let mut streamed = false;
            let mut first_item = true;
            let mut sep = |line: &mut Vec<u8>| {
                if !std::mem::take(&mut first_item) {
                    line.push(b' ');
                }
            };
            // RFC 9051 §6.4.9: UID FETCH always returns UID.
            if by_uid && !items.contains(&Item::Uid) {
                sep(&mut line);
                line.extend_from_slice(format!("UID {}", uid.0).as_bytes());
            }
            // Read once per message, when an item needs it.
            let needs_meta = items.iter().any(|i| {
                matches!(i, Item::Envelope | Item::Structure(_) | Item::BinarySize(_))
                    || matches!(i, Item::Binary { part, .. } if !part.is_empty())
                    || matches!(i, Item::Body { section, .. } if *section != BodySection::Full)
            });
            let meta = match needs_meta {
                true => {
                    while metas.front().is_some_and(|(u, _)| u < uid) {
                        metas.pop_front();
                    }
                    if metas.is_empty() {
                        // One read for the next batch of wanted messages.
                        let last = wanted[(index + META_BATCH - 1).min(wanted.len() - 1)];
                        match mailboxes.messages_meta(mailbox, *uid, last).await {
                            Ok(batch) => metas = batch.into(),
                            Err(e) => {
                                store_failure(&mut out, tag, &e);
                                return Outcome::done(out);
                            }
                        }
                    }
                    match metas.front() {
                        Some((u, _)) if u == uid => metas.pop_front().and_then(|(_, m)| m),
                        _ => None,
                    }
                }
                false => None,
            };
            for item in items {
                match item {
                    Item::Flags => {
                        sep(&mut line);
                        let flags: Vec<String> =
                            record.flags.iter().map(|f| f.to_string()).collect();
                        line.extend_from_slice(format!("FLAGS ({})", flags.join(" ")).as_bytes());
                    }
                    Item::Uid => {
                        sep(&mut line);
                        line.extend_from_slice(format!("UID {}", uid.0).as_bytes());
                    }
                    Item::Size => {
                        sep(&mut line);
                        line.extend_from_slice(format!("RFC822.SIZE {}", record.size).as_bytes());
                    }
                    Item::InternalDate => {
                        sep(&mut line);
                        line.extend_from_slice(
                            format!("INTERNALDATE \"{}\"", internal_date(record.internal_date))
                                .as_bytes(),
                        );
                    }
                    Item::ModSeq => {}
                    Item::EmailId => {
                        sep(&mut line);
                        let id = crate::respond::email_id(record.content_id);
                        line.extend_from_slice(format!("EMAILID ({id})").as_bytes());
                    }
                    Item::ThreadId => {
                        sep(&mut line);
                        line.extend_from_slice(b"THREADID NIL");
                    }
                    Item::BinarySize(part) => {
                        let size = match part.is_empty() {
                            true => Some(record.size),
                            false => meta
                                .as_ref()
                                .and_then(|m| crate::section::leaf(m, part))
                                .map(|p| p.decoded_size),
                        };
                        let Some(size) = size else {
                            tagged(&mut out, tag, "NO", "[UNKNOWN-CTE] No such leaf part");
                            return Outcome::done(out);
                        };
                        sep(&mut line);
                        line.extend_from_slice(
                            format!("BINARY.SIZE[{}] {size}", dotted(part)).as_bytes(),
                        );
                    }
                    Item::Binary { part, partial, .. } => {
                        // RFC 3516 §4.2: a leaf part's body, decoded; `[]` is the message.
                        let decoded = match part.is_empty() {
                            true => read_range(&mailboxes, mailbox, *uid, 0..record.size).await,
                            false => {
                                let found = meta.as_ref().and_then(|m| {
                                    Some((
                                        crate::section::leaf(m, part)?,
                                        BodySection::Part(part.clone()).range(m, record.size)?,
                                    ))
                                });
                                let Some((leaf, range)) = found else {
                                    tagged(&mut out, tag, "NO", "[UNKNOWN-CTE] No such leaf part");
                                    return Outcome::done(out);
                                };
                                match read_range(&mailboxes, mailbox, *uid, range).await {
                                    Ok(raw) => match tern_message::decode_transfer(
                                        leaf.encoding.as_deref(),
                                        &raw,
                                    ) {
                                        Some(decoded) => Ok(decoded),
                                        None => {
                                            tagged(
                                                &mut out,
                                                tag,
                                                "NO",
                                                "[UNKNOWN-CTE] The part's transfer encoding is unknown",
                                            );
                                            return Outcome::done(out);
                                        }
                                    },
                                    Err(e) => Err(e),
                                }
                            }
                        };
                        let decoded = match decoded {
                            Ok(decoded) => decoded,
                            Err(StoreError::NotFound(_)) if !streamed => continue 'messages,
                            Err(e) => {
                                store_failure(&mut out, tag, &e);
                                return Outcome::done(out);
                            }
                        };
                        let bytes = cut(&decoded, *partial);
                        sep(&mut line);
                        let origin = partial.map_or(String::new(), |(o, _)| format!("<{o}>"));
                        // literal8 (RFC 3516 §4.3): the decoded part may hold NULs.
                        line.extend_from_slice(
                            format!("BINARY[{}]{origin} ~{{{}}}\r\n", dotted(part), bytes.len())
                                .as_bytes(),
                        );
                        line.extend_from_slice(bytes);
                    }
                    Item::Envelope => {
                        if let Some(meta) = &meta {
                            sep(&mut line);
                            line.extend_from_slice(b"ENVELOPE ");
                            line.extend_from_slice(&imap_envelope(meta, STRINGS));
                        }
                    }
                    Item::Structure(extension) => {
                        if let Some(meta) = &meta {
                            sep(&mut line);
                            line.extend_from_slice(if *extension {
                                b"BODYSTRUCTURE "
                            } else {
                                b"BODY "
                            });
                            line.extend_from_slice(&body_structure(meta, *extension, STRINGS));
                        }
                    }
                    Item::Body {
                        section,
                        partial,
                        label,
                        ..
                    } => {
                        sep(&mut line);
                        line.extend_from_slice(body_label(section, *partial, *label).as_bytes());
                        // RFC 9051 §6.4.5: a part that does not exist is sent empty.
                        let range = match section {
                            BodySection::Full => Some(0..record.size),
                            _ => meta.as_ref().and_then(|m| section.range(m, record.size)),
                        };
                        let Some(range) = range else {
                            line.extend_from_slice(b" \"\"");
                            continue;
                        };
                        if let BodySection::Fields { names, not, .. } = section {
                            let header = match read_range(&mailboxes, mailbox, *uid, range).await {
                                Ok(header) => header,
                                Err(StoreError::NotFound(_)) if !streamed => continue 'messages,
                                Err(e) => {
                                    store_failure(&mut out, tag, &e);
                                    return Outcome::done(out);
                                }
                            };
                            let fields = header_fields(&header, names, *not);
                            let fields = cut(&fields, *partial);
                            line.extend_from_slice(format!(" {{{}}}\r\n", fields.len()).as_bytes());
                            line.extend_from_slice(fields);
                            continue;
                        }
                        let range = cut_range(range, *partial);
                        line.extend_from_slice(
                            format!(" {{{}}}\r\n", range.end - range.start).as_bytes(),
                        );
                        out.extend_from_slice(&line);
                        line.clear();
                        pieces.push(Piece::Bytes(std::mem::take(&mut out)));
                        streamed = true;
                        pieces.push(Piece::Range {
                            mailbox,
                            uid: *uid,
                            range,
                        });
                    }
                }
            }
            if newly_seen.contains(uid) && !items.contains(&Item::Flags) {
                sep(&mut line);
                let flags: Vec<String> = record.flags.iter().map(|f| f.to_string()).collect();
                line.extend_from_slice(format!("FLAGS ({})", flags.join(" ")).as_bytes());
            }
            if with_modseq {
                sep(&mut line);
                line.extend_from_slice(format!("MODSEQ ({})", record.modseq.0).as_bytes());
            }
            line.extend_from_slice(b")\r\n");
            out.extend_from_slice(&line);
        }
        tagged(&mut out, tag, "OK", "FETCH completed");
        pieces.push(Piece::Bytes(out));
        Outcome {
            pieces,
            next: Next::Continue,
        }
    }
}

/// `BODY[section]<origin>` (or an RFC822 form) as the response names it (RFC 9051 §7.5.2).
fn body_label(section: &BodySection, partial: Option<(u32, u32)>, label: Label) -> String {
    match label {
        Label::Rfc822 => "RFC822".into(),
        Label::Rfc822Header => "RFC822.HEADER".into(),
        Label::Rfc822Text => "RFC822.TEXT".into(),
        Label::Body => match partial {
            Some((offset, _)) => format!("BODY[{}]<{offset}>", section.spec()),
            None => format!("BODY[{}]", section.spec()),
        },
    }
}

/// Part numbers as `1.2.3`.
fn dotted(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// `<offset.length>` applied to a section (RFC 9051 §6.4.5): past its end, nothing.
fn cut_range(range: std::ops::Range<u64>, partial: Option<(u32, u32)>) -> std::ops::Range<u64> {
    match partial {
        None => range,
        Some((offset, len)) => {
            let start = range.start.saturating_add(u64::from(offset)).min(range.end);
            let end = start.saturating_add(u64::from(len)).min(range.end);
            start..end
        }
    }
}

fn cut(bytes: &[u8], partial: Option<(u32, u32)>) -> &[u8] {
    let range = cut_range(0..bytes.len() as u64, partial);
    &bytes[range.start as usize..range.end as usize]
}

/// A small range of a message (a header block), read whole.
async fn read_range(
    mailboxes: &std::sync::Arc<dyn tern_store::MailboxStore>,
    mailbox: MailboxId,
    uid: Uid,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, StoreError> {
    let reader = mailboxes.open_message(mailbox, uid).await?;
    let mut buf = Vec::new();
    let want = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
    reader.read_at(range.start, want, &mut buf).await?;
    Ok(buf)
}

/// RFC 4731 §3.1 (RFC 9051 §7.3.4): `ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL
/// set]` for ascending `numbers`; MIN, MAX and ALL are left out when nothing matched. A MODSEQ
/// search adds the highest mod-sequence found (RFC 7162 §3.1.10).
fn esearch(
    tag: &str,
    by_uid: bool,
    numbers: &[u32],
    returning: SearchReturn,
    highest: Option<u64>,
) -> String {
    let mut line = String::from("ESEARCH (TAG ");
    let mut quoted = Vec::new();
    string(&mut quoted, tag, false);
    line.push_str(&String::from_utf8_lossy(&quoted));
    line.push(')');
    if by_uid {
        line.push_str(" UID");
    }
    if let (true, Some(min)) = (returning.min, numbers.first()) {
        line.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (returning.max, numbers.last()) {
        line.push_str(&format!(" MAX {max}"));
    }
    if returning.count {
        line.push_str(&format!(" COUNT {}", numbers.len()));
    }
    if returning.all && !numbers.is_empty() {
        let ranges = crate::respond::ranges(numbers.iter().copied());
        line.push_str(&format!(" ALL {}", crate::respond::sequence_set(&ranges)));
    }
    if let (Some(highest), false) = (highest, numbers.is_empty()) {
        line.push_str(&format!(" MODSEQ {highest}"));
    }
    line
}

/// Takes expunged UIDs out of a session's numbering and tells the client: one EXPUNGE per
/// message (RFC 9051 §7.5.1), or after ENABLE QRESYNC one VANISHED for them all (RFC 7162
/// §3.2.10), which clients of QRESYNC must get instead.
pub(crate) fn forget_uids(out: &mut Vec<u8>, selected: &mut Selected, gone: &[Uid], qresync: bool) {
    let mut vanished = Vec::new();
    for uid in gone {
        if let Ok(index) = selected.uids.binary_search(uid) {
            selected.uids.remove(index);
            match qresync {
                true => vanished.push(*uid),
                false => untagged(out, &format!("{} EXPUNGE", index + 1)),
            }
        }
    }
    if !vanished.is_empty() {
        vanished.sort_unstable();
        let ranges = crate::respond::ranges(vanished.iter().map(|u| u.0));
        untagged(
            out,
            &format!("VANISHED {}", crate::respond::sequence_set(&ranges)),
        );
    }
}

/// Message records (structure, envelope) read at once for a FETCH: enough to save the reads,
/// few enough to keep the memory small.
const META_BATCH: usize = 256;

/// The message sequence number of `uid` in the selected mailbox.
fn selected_seq(state: &State, uid: Uid) -> Option<usize> {
    match state {
        State::Selected(_, selected) => selected.uids.binary_search(&uid).ok().map(|i| i + 1),
        _ => None,
    }
}

/// RFC 9051 §9 `date-time`: "dd-Mon-yyyy hh:mm:ss +0000".
fn internal_date(unix: i64) -> String {
    let date = tern_message::rfc5322_date(unix);
    // rfc5322_date: "Mon, 30 Nov 2026 12:00:00 +0000"
    let parts: Vec<&str> = date.split_whitespace().collect();
    match parts.as_slice() {
        [_, day, month, year, time, zone] => format!("{day:0>2}-{month}-{year} {time} {zone}"),
        _ => date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Bound;

    #[test]
    fn sequence_sets_resolve_to_uids() {
        let uids = [Uid(3), Uid(7), Uid(9), Uid(20)];
        let set = |v: &[(Bound, Bound)]| Set(v.to_vec());
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

    #[test]
    fn internal_dates() {
        assert_eq!(internal_date(0), "01-Jan-1970 00:00:00 +0000");
    }
}
