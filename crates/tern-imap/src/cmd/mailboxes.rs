//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE and STATUS (RFC 9051 §6.3.4–6.3.11).

use tern_store::{MailboxInfo, StoreError};
use tern_types::{Flag, SpecialUse, Uid};

use crate::extended::ListOptions;
use crate::list;
use crate::names;
use crate::request::StatusItem;
use crate::respond::{string, tagged, untagged};
use crate::session::{store_failure, Session, State};

impl Session {
    /// A new mailbox name from a client: modified UTF-7 decoded strictly, validated, without
    /// the trailing delimiter RFC 9051 §6.3.4 allows.
    fn new_name(name: &str) -> Result<String, String> {
        let name = name.strip_suffix('/').unwrap_or(name);
        let decoded = names::decode_utf7(name).map_err(|e| format!("Bad mailbox name: {e}"))?;
        names::validate(&decoded).map_err(|e| format!("Bad mailbox name: {e}"))?;
        Ok(decoded)
    }

    pub(crate) async fn create(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        name: &str,
        uses: &[String],
    ) {
        let Some(account) = self.account().map(|a| a.id) else {
            return tagged(out, tag, "BAD", "Log in first");
        };
        // RFC 6154 §3: a mailbox here has at most one special use.
        let special_use = match uses {
            [] => None,
            [one] => match SpecialUse::parse(one) {
                Some(special) => Some(special),
                None => return tagged(out, tag, "NO", "[USEATTR] Unknown special use"),
            },
            _ => return tagged(out, tag, "NO", "[USEATTR] One special use per mailbox"),
        };
        let name = match Self::new_name(name) {
            Ok(name) => name,
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        if name.eq_ignore_ascii_case("INBOX") {
            return tagged(out, tag, "NO", "[ALREADYEXISTS] INBOX always exists");
        }
        let mailboxes = &self.shared.stores.mailboxes;
        // RFC 9051 §6.3.4: the superiors a name needs are created too.
        let levels: Vec<&str> = name.split('/').collect();
        for depth in 1..levels.len() {
            let parent = levels[..depth].join("/");
            match mailboxes.create_mailbox(account, &parent, None).await {
                Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return store_failure(out, tag, &e),
            }
        }
        match mailboxes.create_mailbox(account, &name, special_use).await {
            // RFC 8474 §4.1: the new mailbox's MAILBOXID.
            Ok(created) => tagged(
                out,
                tag,
                "OK",
                &format!(
                    "[MAILBOXID ({})] CREATE completed",
                    crate::respond::mailbox_id(&created)
                ),
            ),
            Err(StoreError::AlreadyExists(_)) => {
                tagged(out, tag, "NO", "[ALREADYEXISTS] The mailbox exists")
            }
            Err(StoreError::Invalid(why)) => tagged(out, tag, "NO", &format!("[CANNOT] {why}")),
            Err(e) => store_failure(out, tag, &e),
        }
    }

    pub(crate) async fn delete(&mut self, out: &mut Vec<u8>, tag: &str, name: &str) {
        if self.account().is_none() {
            return tagged(out, tag, "BAD", "Log in first");
        }
        let mailbox = match self.find_mailbox(name).await {
            Ok(mailbox) => mailbox,
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        if mailbox.name.eq_ignore_ascii_case("INBOX") {
            return tagged(out, tag, "NO", "[CANNOT] INBOX cannot be deleted");
        }
        match self
            .shared
            .stores
            .mailboxes
            .delete_mailbox(mailbox.id)
            .await
        {
            Ok(()) => {
                // A session with the deleted mailbox selected is left with none.
                if let State::Selected(account, selected) = &self.state {
                    if selected.mailbox.id == mailbox.id {
                        self.state = State::Authenticated(account.clone());
                    }
                }
                tagged(out, tag, "OK", "DELETE completed")
            }
            Err(StoreError::Invalid(why)) => tagged(out, tag, "NO", &format!("[CANNOT] {why}")),
            Err(e) => store_failure(out, tag, &e),
        }
    }

    pub(crate) async fn rename(&mut self, out: &mut Vec<u8>, tag: &str, from: &str, to: &str) {
        if self.account().is_none() {
            return tagged(out, tag, "BAD", "Log in first");
        }
        let mailbox = match self.find_mailbox(from).await {
            Ok(mailbox) => mailbox,
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        let to = match Self::new_name(to) {
            Ok(name) => name,
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        match self
            .shared
            .stores
            .mailboxes
            .rename_mailbox(mailbox.id, &to)
            .await
        {
            Ok(()) => tagged(out, tag, "OK", "RENAME completed"),
            Err(StoreError::AlreadyExists(_)) => tagged(
                out,
                tag,
                "NO",
                "[ALREADYEXISTS] A mailbox of that name exists",
            ),
            Err(StoreError::Invalid(why)) => tagged(out, tag, "NO", &format!("[CANNOT] {why}")),
            Err(e) => store_failure(out, tag, &e),
        }
    }

    pub(crate) async fn subscribe(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        name: &str,
        subscribe: bool,
    ) {
        if self.account().is_none() {
            return tagged(out, tag, "BAD", "Log in first");
        }
        let mailbox = match self.find_mailbox(name).await {
            Ok(mailbox) => mailbox,
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        match self
            .shared
            .stores
            .mailboxes
            .set_subscribed(mailbox.id, subscribe)
            .await
        {
            Ok(()) => tagged(out, tag, "OK", "Done"),
            Err(e) => store_failure(out, tag, &e),
        }
    }

    pub(crate) async fn status(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        name: &str,
        items: &[StatusItem],
    ) {
        if self.account().is_none() {
            return tagged(out, tag, "BAD", "Log in first");
        }
        let mailbox = match self.find_mailbox(name).await {
            Ok(mailbox) => mailbox,
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        match self.status_line(&mailbox, items).await {
            Ok(line) => out.extend_from_slice(&line),
            Err(e) => return store_failure(out, tag, &e),
        }
        tagged(out, tag, "OK", "STATUS completed");
    }

    /// `* STATUS name (items)` (RFC 9051 §7.3.5), for STATUS and LIST-STATUS (RFC 5819).
    pub(crate) async fn status_line(
        &mut self,
        mailbox: &MailboxInfo,
        items: &[StatusItem],
    ) -> Result<Vec<u8>, StoreError> {
        if items.contains(&StatusItem::HighestModSeq) {
            self.condstore = true;
        }
        let unseen = match items.contains(&StatusItem::Unseen) {
            true => self
                .shared
                .stores
                .mailboxes
                .messages(mailbox.id, Uid(1))
                .await?
                .iter()
                .filter(|r| !r.flags.contains(&Flag::Seen))
                .count(),
            false => 0,
        };
        let values: Vec<String> = items
            .iter()
            .map(|item| match item {
                StatusItem::Messages => format!("MESSAGES {}", mailbox.messages),
                // RFC 9051 removed \\Recent; IMAP4rev1 clients are told none are recent.
                StatusItem::Recent => "RECENT 0".to_string(),
                StatusItem::UidNext => format!("UIDNEXT {}", mailbox.uid_next.0),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", mailbox.uid_validity.0),
                StatusItem::Unseen => format!("UNSEEN {unseen}"),
                StatusItem::Size => format!("SIZE {}", mailbox.size),
                StatusItem::MailboxId => {
                    format!("MAILBOXID ({})", crate::respond::mailbox_id(mailbox))
                }
                StatusItem::HighestModSeq => {
                    format!("HIGHESTMODSEQ {}", mailbox.highest_modseq.0.max(1))
                }
            })
            .collect();
        let mut line = b"* STATUS ".to_vec();
        string(&mut line, &names::encode_utf7(&mailbox.name), false);
        line.extend_from_slice(format!(" ({})\r\n", values.join(" ")).as_bytes());
        Ok(line)
    }

    /// LIST, LSUB and LIST-EXTENDED (RFC 9051 §6.3.9, RFC 3501 §6.3.9, RFC 5258, RFC 5819,
    /// RFC 6154 §5.1): the mailboxes matching any of the patterns, filtered and marked as
    /// the options ask.
    pub(crate) async fn list(
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
}
