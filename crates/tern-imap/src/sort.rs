//! SORT (RFC 5256 §3, with RFC 5957 DISPLAYFROM/DISPLAYTO): the matching messages ordered by
//! the sort keys recorded at delivery (sent date, base subject, first addresses), read in
//! batches, never by parsing a message.

use std::cmp::Ordering;

use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};
use tern_message::mime::{AddressKey, MessageMeta};
use tern_store::{MessageRecord, StoreError, Stores};
use tern_types::{MailboxId, Uid};

/// One criterion, in our terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Criterion {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

pub(crate) type Order = Vec<(Criterion, bool)>;

pub(crate) fn criteria(given: &[SortCriterion]) -> Order {
    given
        .iter()
        .map(|c| {
            let key = match c.key {
                SortKey::Arrival => Criterion::Arrival,
                SortKey::Cc => Criterion::Cc,
                SortKey::Date => Criterion::Date,
                SortKey::From => Criterion::From,
                SortKey::Size => Criterion::Size,
                SortKey::Subject => Criterion::Subject,
                SortKey::To => Criterion::To,
                SortKey::DisplayFrom => Criterion::DisplayFrom,
                SortKey::DisplayTo => Criterion::DisplayTo,
            };
            (key, c.reverse)
        })
        .collect()
}

/// What one message is sorted by.
#[derive(Debug)]
struct Keys {
    seq: usize,
    uid: Uid,
    arrival: i64,
    date: i64,
    size: u64,
    subject: String,
    from: String,
    to: String,
    cc: String,
    display_from: String,
    display_to: String,
}

/// RFC 5256 §3: an address sorts by its addr-mailbox (the local part), folded with
/// i;ascii-casemap; RFC 5957: a display name when there is one. i;ascii-casemap (RFC 4790
/// §9.2) maps a-z to A-Z before comparing octets, so `[` and `_` sort after the letters.
fn addr_mailbox(key: &Option<AddressKey>) -> String {
    key.as_ref()
        .map(|a| {
            a.address
                .rsplit_once('@')
                .map_or(a.address.as_str(), |(local, _)| local)
                .to_ascii_uppercase()
        })
        .unwrap_or_default()
}

fn display(key: &Option<AddressKey>) -> String {
    match key.as_ref().and_then(|a| a.name.clone()) {
        Some(name) if !name.is_empty() => name.to_ascii_uppercase(),
        _ => addr_mailbox(key),
    }
}

fn compare(a: &Keys, b: &Keys, order: &Order) -> Ordering {
    for (criterion, reverse) in order {
        let ordering = match criterion {
            Criterion::Arrival => a.arrival.cmp(&b.arrival),
            Criterion::Date => a.date.cmp(&b.date),
            Criterion::Size => a.size.cmp(&b.size),
            Criterion::Subject => a.subject.cmp(&b.subject),
            Criterion::From => a.from.cmp(&b.from),
            Criterion::To => a.to.cmp(&b.to),
            Criterion::Cc => a.cc.cmp(&b.cc),
            Criterion::DisplayFrom => a.display_from.cmp(&b.display_from),
            Criterion::DisplayTo => a.display_to.cmp(&b.display_to),
        };
        let ordering = if *reverse {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    // RFC 5256 §3: the message sequence number breaks every tie.
    a.seq.cmp(&b.seq)
}

/// A matching message with what SORT and THREAD order by: its record and the keys recorded
/// at delivery (`None` for a message stored before they were).
pub(crate) struct Found<'r> {
    pub(crate) record: &'r MessageRecord,
    pub(crate) meta: Option<MessageMeta>,
}

/// The messages of `found` (records in ascending UIDs) with their recorded keys, read in
/// batches of 256 so that a large result is never one large read. A message expunged since
/// the search is left out.
pub(crate) async fn load<'r>(
    stores: &Stores,
    mailbox: MailboxId,
    found: &'r [MessageRecord],
) -> Result<Vec<Found<'r>>, StoreError> {
    let mut out = Vec::with_capacity(found.len());
    for batch in found.chunks(256) {
        let uids: Vec<Uid> = batch.iter().map(|r| r.uid).collect();
        let metas = stores.mailboxes.messages_meta(mailbox, &uids).await?;
        for (uid, meta) in metas {
            if let Ok(i) = batch.binary_search_by_key(&uid, |r| r.uid) {
                out.push(Found {
                    record: &batch[i],
                    meta,
                });
            }
        }
    }
    Ok(out)
}

/// `found` (records of the matching messages, in UID order) sorted by `order`; `uids` is the
/// session's numbering.
pub(crate) async fn sort(
    stores: &Stores,
    mailbox: MailboxId,
    uids: &[Uid],
    found: &[MessageRecord],
    order: &Order,
) -> Result<Vec<Uid>, StoreError> {
    let mut keys: Vec<Keys> = Vec::with_capacity(found.len());
    for Found { record, meta } in load(stores, mailbox, found).await? {
        let uid = record.uid;
        let mut k = Keys {
            seq: uids.binary_search(&uid).map_or(usize::MAX, |i| i + 1),
            uid,
            arrival: record.internal_date,
            // RFC 5256 §3 DATE: the sent date, or the internal date without one.
            date: record.internal_date,
            size: record.size,
            subject: String::new(),
            from: String::new(),
            to: String::new(),
            cc: String::new(),
            display_from: String::new(),
            display_to: String::new(),
        };
        if let Some(meta) = meta {
            let s = &meta.sort;
            k.date = s.sent_date.unwrap_or(record.internal_date);
            k.subject = s.base_subject.to_ascii_uppercase();
            k.from = addr_mailbox(&s.from);
            k.to = addr_mailbox(&s.to);
            k.cc = addr_mailbox(&s.cc);
            k.display_from = display(&s.from);
            k.display_to = display(&s.to);
        }
        keys.push(k);
    }
    keys.sort_by(|a, b| compare(a, b, order));
    Ok(keys.into_iter().map(|k| k.uid).collect())
}
