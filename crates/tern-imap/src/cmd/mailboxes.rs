//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE and STATUS (RFC 9051 §6.3.4–6.3.11).

use std::collections::{BTreeMap, BTreeSet};

use tern_store::{MailboxInfo, StoreError};
use tern_types::SpecialUse;

use crate::extended::ListOptions;
use crate::list;
use crate::names;
use crate::request::StatusItem;
use crate::respond::{string, tagged, untagged};
use crate::session::{store_failure, Session, State};

/// An account's mailboxes by name: LIST finds each name it lists with a look-up, and a
/// mailbox's inferiors are a range of names (a scan of every mailbox per name listed made
/// LIST quadratic in the mailboxes an account has).
pub(crate) struct ByName<'a>(BTreeMap<&'a str, &'a MailboxInfo>);

impl<'a> ByName<'a> {
    pub(crate) fn new(mailboxes: &'a [MailboxInfo]) -> Self {
        Self(mailboxes.iter().map(|m| (m.name.as_str(), m)).collect())
    }

    fn get(&self, name: &str) -> Option<&'a MailboxInfo> {
        self.0.get(name).copied()
    }

    /// A mailbox named `name/...` exists: the first name from `name/` on starts with it.
    fn has_children(&self, name: &str) -> bool {
        let below = format!("{name}/");
        self.0
            .range(below.as_str()..)
            .next()
            .is_some_and(|(child, _)| child.starts_with(&below))
    }
}

impl Session {
    /// A new mailbox name from a client: decoded (`Session::decode_name`), validated, without
    /// the trailing delimiter RFC 9051 §6.3.4 allows.
    fn new_name(&self, name: &str) -> Result<String, String> {
        let name = name.strip_suffix('/').unwrap_or(name);
        let decoded = self
            .decode_name(name)
            .map_err(|e| format!("Bad mailbox name: {e}"))?;
        names::validate(&decoded).map_err(|e| format!("Bad mailbox name: {e}"))?;
        Ok(decoded)
    }

    /// The attributes of an existing mailbox among all of the account's (RFC 9051 §7.3.1,
    /// RFC 3348: \HasChildren or \HasNoChildren; RFC 6154: its special use).
    pub(crate) fn attributes(mailbox: &MailboxInfo, all: &ByName<'_>) -> Vec<&'static str> {
        let mut attributes = vec![if all.has_children(&mailbox.name) {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }];
        if let Some(special) = mailbox.special_use {
            attributes.push(special.as_str());
        }
        attributes
    }

    /// `* LIST (attributes) "/" name` (or LSUB), the name as this client reads it.
    pub(crate) fn list_line(&self, verb: &str, name: &str, attributes: &[&str]) -> Vec<u8> {
        let mut line = format!("* {verb} ({}) \"/\" ", attributes.join(" ")).into_bytes();
        string(&mut line, &self.encode_name(name), self.utf8);
        line.extend_from_slice(b"\r\n");
        line
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
        let name = match self.new_name(name) {
            Ok(name) => name,
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        if name.eq_ignore_ascii_case("INBOX") {
            return tagged(out, tag, "NO", "[ALREADYEXISTS] INBOX always exists");
        }
        // The store creates the superiors the name needs with it (RFC 9051 §6.3.4).
        match self
            .shared
            .stores
            .mailboxes
            .create_mailbox(account, &name, special_use)
            .await
        {
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
        let to = match self.new_name(to) {
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

    /// SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8): by name, whether or not the
    /// mailbox exists (the RFC lets a server check; Tern does not, so a subscription can be
    /// made before its mailbox and outlives it).
    pub(crate) async fn subscribe(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        name: &str,
        subscribe: bool,
    ) {
        let Some(account) = self.account().map(|a| a.id) else {
            return tagged(out, tag, "BAD", "Log in first");
        };
        let name = match self.new_name(name) {
            Ok(name) => name,
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        match self
            .shared
            .stores
            .mailboxes
            .set_subscribed(account, &name, subscribe)
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
        // UNSEEN, DELETED and RECENT (RFC 3501 §6.3.10: the messages no session has claimed)
        // are counted by the store: no records are read.
        let counted = [StatusItem::Unseen, StatusItem::Deleted, StatusItem::Recent];
        let counts = match items.iter().any(|i| counted.contains(i)) {
            true => self.shared.stores.mailboxes.flag_counts(mailbox.id).await?,
            false => tern_store::FlagCounts::default(),
        };
        let (unseen, deleted, recent) = (counts.unseen, counts.deleted, counts.recent);
        let values: Vec<String> = items
            .iter()
            .map(|item| match item {
                StatusItem::Messages => format!("MESSAGES {}", mailbox.messages),
                StatusItem::Recent => format!("RECENT {recent}"),
                StatusItem::UidNext => format!("UIDNEXT {}", mailbox.uid_next.0),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", mailbox.uid_validity.0),
                StatusItem::Unseen => format!("UNSEEN {unseen}"),
                StatusItem::Deleted => format!("DELETED {deleted}"),
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
        string(&mut line, &self.encode_name(&mailbox.name), self.utf8);
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
            if let Ok(decoded) = self.decode_name(&format!("{reference}{pattern}")) {
                full.push(decoded);
            }
        }
        let account = account.id;
        let stores = &self.shared.stores;
        let mailboxes = match stores.mailboxes.list_mailboxes(account).await {
            Ok(m) => m,
            Err(e) => return store_failure(out, tag, &e),
        };
        let lsub = verb == "LSUB";
        let by_subscription = lsub || options.subscribed_only;
        let subscribed: BTreeSet<String> = match by_subscription || options.return_subscribed {
            true => match stores.mailboxes.subscriptions(account).await {
                Ok(names) => names.into_iter().collect(),
                Err(e) => return store_failure(out, tag, &e),
            },
            false => BTreeSet::new(),
        };
        let matches = |name: &str| full.iter().any(|p| list::matches(p, name));
        let by_name = ByName::new(&mailboxes);
        // The names to consider: the mailboxes, and when subscriptions select, the subscribed
        // names (which may not exist) and their parents, after them in name order.
        let mut names: Vec<&str> = mailboxes.iter().map(|m| m.name.as_str()).collect();
        if by_subscription {
            let existing: BTreeSet<&str> = names.iter().copied().collect();
            let mut extra = BTreeSet::new();
            for name in &subscribed {
                let mut levels = name
                    .match_indices('/')
                    .map(|(i, _)| &name[..i])
                    .collect::<Vec<_>>();
                levels.push(name);
                extra.extend(levels.into_iter().filter(|n| !existing.contains(n)));
            }
            names.extend(extra);
        }
        for name in names {
            if !matches(name) {
                continue;
            }
            let mailbox = by_name.get(name);
            if options.special_use_only && mailbox.is_none_or(|m| m.special_use.is_none()) {
                continue;
            }
            let is_subscribed = subscribed.contains(name);
            // A subscribed name below this one that the patterns do not reach.
            let below = format!("{name}/");
            let hidden_subscribed_child = subscribed
                .range(below.clone()..)
                .take_while(|s| s.starts_with(&below))
                .any(|s| !matches(s));
            let mut attributes = match mailbox {
                Some(mailbox) => Self::attributes(mailbox, &by_name),
                // RFC 5258 §3: a name that is not a mailbox (implies \Noselect).
                None => vec!["\\NonExistent"],
            };
            let mut child_info = false;
            if lsub {
                if !is_subscribed {
                    // RFC 3501 §6.3.9: a parent the pattern reaches, not subscribed, whose
                    // subscribed inferior it does not reach, is listed as \Noselect.
                    if !hidden_subscribed_child {
                        continue;
                    }
                    attributes = vec!["\\Noselect"];
                } else if mailbox.is_none() {
                    attributes.clear();
                }
            } else if options.subscribed_only && !is_subscribed {
                // RFC 5258 §3.5: with RECURSIVEMATCH, a parent left out by SUBSCRIBED is still
                // named, with CHILDINFO, when a subscribed inferior is not itself listed.
                if !(options.recursive && hidden_subscribed_child) {
                    continue;
                }
                child_info = true;
            }
            if !lsub && is_subscribed && (options.subscribed_only || options.return_subscribed) {
                attributes.push("\\Subscribed");
            }
            let mut line = self.list_line(verb, name, &attributes);
            if child_info {
                line.truncate(line.len() - 2);
                line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
            }
            out.extend_from_slice(&line);
            // RFC 5819 §2: the mailbox's STATUS right after its LIST response.
            if let (Some(items), false, Some(mailbox)) = (&options.status, child_info, mailbox) {
                match self.status_line(mailbox, items).await {
                    Ok(status) => out.extend_from_slice(&status),
                    Err(e) => return store_failure(out, tag, &e),
                }
            }
        }
        tagged(out, tag, "OK", &format!("{verb} completed"));
    }
}
