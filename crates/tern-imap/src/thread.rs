//! THREAD=ORDEREDSUBJECT (RFC 5256 §4): messages grouped by base subject, each group in sent
//! date order with its first message as the parent of the others, groups in the order of their
//! first messages' dates. From the sort keys recorded at delivery.

use tern_store::{StoreError, Stores};
use tern_types::{MailboxId, Uid};

/// One message as threading sees it.
struct Entry {
    number: u32,
    subject: String,
    date: i64,
    seq: usize,
}

/// The THREAD response's threads, numbered by `by_uid` (UIDs) or sequence numbers.
pub(crate) async fn ordered_subject(
    stores: &Stores,
    mailbox: MailboxId,
    uids: &[Uid],
    found: &[Uid],
    by_uid: bool,
) -> Result<String, StoreError> {
    let records = stores.mailboxes.messages(mailbox, Uid(1)).await?;
    let mut entries = Vec::with_capacity(found.len());
    for batch in found.chunks(256) {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            continue;
        };
        for (uid, meta) in stores
            .mailboxes
            .messages_meta(mailbox, *first, *last)
            .await?
        {
            if batch.binary_search(&uid).is_err() {
                continue;
            }
            let Ok(seq) = uids.binary_search(&uid).map(|i| i + 1) else {
                continue;
            };
            let internal = records
                .binary_search_by_key(&uid, |r| r.uid)
                .map_or(0, |i| records[i].internal_date);
            let (subject, date) = match meta {
                Some(meta) => (
                    meta.sort.base_subject.to_ascii_lowercase(),
                    meta.sort.sent_date.unwrap_or(internal),
                ),
                None => (String::new(), internal),
            };
            entries.push(Entry {
                number: if by_uid { uid.0 } else { seq as u32 },
                subject,
                date,
                seq,
            });
        }
    }
    // RFC 5256 §4 ORDEREDSUBJECT: sorted by base subject, then sent date (sequence number
    // last), then split where the subject changes.
    entries.sort_by(|a, b| (&a.subject, a.date, a.seq).cmp(&(&b.subject, b.date, b.seq)));
    let mut threads: Vec<Vec<Entry>> = Vec::new();
    for entry in entries {
        match threads.last_mut() {
            Some(thread) if thread[0].subject == entry.subject => thread.push(entry),
            _ => threads.push(vec![entry]),
        }
    }
    threads.sort_by_key(|t| (t[0].date, t[0].seq));
    Ok(threads.iter().map(|t| render(t)).collect())
}

/// `(parent child)` for one child, `(parent (child)(child))` for more (RFC 5256 §4 syntax).
fn render(thread: &[Entry]) -> String {
    let numbers: Vec<String> = thread.iter().map(|e| e.number.to_string()).collect();
    match numbers.as_slice() {
        [only] => format!("({only})"),
        [parent, child] => format!("({parent} {child})"),
        [parent, children @ ..] => {
            let nested: String = children.iter().map(|c| format!("({c})")).collect();
            format!("({parent} {nested})")
        }
        [] => String::new(),
    }
}
