//! THREAD (RFC 5256 §4) from the sort keys recorded at delivery:
//! - ORDEREDSUBJECT: messages grouped by base subject, each group in sent date order with its
//!   first message as the parent of the others, groups in the order of their first dates;
//! - REFERENCES: the parent/child links of Message-ID and References (In-Reply-To without
//!   them), empty containers pruned, roots of one base subject gathered, all in date order.

use std::collections::HashMap;

use tern_store::{MessageRecord, StoreError, Stores};
use tern_types::{MailboxId, Uid};

use crate::sort::{load, Found};

/// One message as threading sees it.
struct Entry {
    number: u32,
    subject: String,
    date: i64,
    seq: usize,
    message_id: Option<String>,
    references: Vec<String>,
    /// The subject had a reply or forward marker ("Re:", "Fwd:", "(fwd)"): RFC 5256 §4 step
    /// 4 needs to know.
    reply: bool,
}

/// Whether a Subject field marks a reply or a forward (RFC 5256 §2.1's removed prefixes).
fn is_reply(subject: &str) -> bool {
    let s = subject.trim().to_ascii_lowercase();
    ["re:", "re :", "fw:", "fwd:", "fw :", "fwd :"]
        .iter()
        .any(|p| s.starts_with(p))
        || s.ends_with("(fwd)")
}

/// The messages of `found`, with what threading needs.
async fn entries(
    stores: &Stores,
    mailbox: MailboxId,
    uids: &[Uid],
    found: &[MessageRecord],
    by_uid: bool,
) -> Result<Vec<Entry>, StoreError> {
    let mut entries = Vec::with_capacity(found.len());
    for Found { record, meta } in load(stores, mailbox, found).await? {
        let uid = record.uid;
        let Ok(seq) = uids.binary_search(&uid).map(|i| i + 1) else {
            continue;
        };
        let internal = record.internal_date;
        let mut entry = Entry {
            number: if by_uid { uid.0 } else { seq as u32 },
            subject: String::new(),
            date: internal,
            seq,
            message_id: None,
            references: Vec::new(),
            reply: false,
        };
        if let Some(meta) = meta {
            entry.subject = meta.sort.base_subject.to_ascii_lowercase();
            entry.date = meta.sort.sent_date.unwrap_or(internal);
            entry.message_id = meta.sort.message_id.clone();
            entry.references = meta.sort.references.clone();
            entry.reply = meta.envelope.subject.as_deref().is_some_and(is_reply);
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// The THREAD=ORDEREDSUBJECT response's threads, numbered by `by_uid` (UIDs) or sequence
/// numbers.
pub(crate) async fn ordered_subject(
    stores: &Stores,
    mailbox: MailboxId,
    uids: &[Uid],
    found: &[MessageRecord],
    by_uid: bool,
) -> Result<String, StoreError> {
    let mut entries = entries(stores, mailbox, uids, found, by_uid).await?;
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

/// A node of the REFERENCES algorithm: a message, or an empty container standing for one
/// that is only referred to.
#[derive(Debug, Default, Clone)]
struct Node {
    entry: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Tree<'a> {
    nodes: Vec<Node>,
    entries: &'a [Entry],
}

impl Tree<'_> {
    fn new_node(&mut self) -> usize {
        self.nodes.push(Node::default());
        self.nodes.len() - 1
    }

    /// Whether `a` is `b` or one of its descendants (linking them would make a loop).
    fn reaches(&self, b: usize, a: usize) -> bool {
        let mut at = Some(a);
        while let Some(n) = at {
            if n == b {
                return true;
            }
            at = self.nodes[n].parent;
        }
        false
    }

    /// Cuts every thread at `max` levels: what lies deeper starts a thread of its own. The
    /// steps after linking recurse through the tree, and References fields (which anyone can
    /// write, in as many messages as they like) could otherwise make it deep enough to
    /// overflow the stack.
    fn limit_depth(&mut self, max: usize) {
        let mut stack: Vec<(usize, usize)> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].parent.is_none())
            .map(|n| (n, 0))
            .collect();
        while let Some((node, depth)) = stack.pop() {
            if depth >= max {
                for child in std::mem::take(&mut self.nodes[node].children) {
                    self.nodes[child].parent = None;
                    stack.push((child, 0));
                }
                continue;
            }
            stack.extend(self.nodes[node].children.iter().map(|&c| (c, depth + 1)));
        }
    }

    fn unlink(&mut self, child: usize) {
        if let Some(parent) = self.nodes[child].parent.take() {
            self.nodes[parent].children.retain(|&c| c != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    /// A node's date: its message's, or for an empty one its first child's (RFC 5256 §4
    /// step 5).
    fn date(&self, node: usize) -> (i64, usize) {
        match self.nodes[node].entry {
            Some(e) => (self.entries[e].date, self.entries[e].seq),
            None => self.nodes[node]
                .children
                .iter()
                .map(|&c| self.date(c))
                .min()
                .unwrap_or((i64::MAX, usize::MAX)),
        }
    }

    /// A root's base subject: its message's, or its first child's for an empty root.
    fn subject(&self, node: usize) -> Option<(&str, bool)> {
        let entry = match self.nodes[node].entry {
            Some(e) => e,
            None => self.nodes[*self.nodes[node].children.first()?].entry?,
        };
        let e = &self.entries[entry];
        (!e.subject.is_empty()).then_some((e.subject.as_str(), e.reply))
    }

    fn sort_children(&mut self, node: usize) {
        let mut children = std::mem::take(&mut self.nodes[node].children);
        children.sort_by_key(|&c| self.date(c));
        for &c in &children {
            self.sort_children(c);
        }
        self.nodes[node].children = children;
    }

    /// `n (m)(o)` members of a subtree, as RFC 5256 §4's thread syntax nests them.
    fn members(&self, node: usize) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut at = node;
        loop {
            if let Some(e) = self.nodes[at].entry {
                parts.push(self.entries[e].number.to_string());
            }
            match self.nodes[at].children.as_slice() {
                [] => break,
                [only] => at = *only,
                many => {
                    parts.push(
                        many.iter()
                            .map(|&c| format!("({})", self.members(c)))
                            .collect(),
                    );
                    break;
                }
            }
        }
        parts.join(" ")
    }
}

/// Levels a thread may have (see `Tree::limit_depth`); real threads are far shallower.
const MAX_DEPTH: usize = 500;

/// The THREAD=REFERENCES response's threads (RFC 5256 §4 steps 1-6).
pub(crate) async fn references(
    stores: &Stores,
    mailbox: MailboxId,
    uids: &[Uid],
    found: &[MessageRecord],
    by_uid: bool,
) -> Result<String, StoreError> {
    let mut entries = entries(stores, mailbox, uids, found, by_uid).await?;
    entries.sort_by_key(|e| e.seq);
    let mut tree = Tree {
        nodes: Vec::new(),
        entries: &entries,
    };
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        // Step 1A: each reference the parent of the next, unless one is linked already or
        // the link would make a loop.
        let mut previous: Option<usize> = None;
        for reference in &entry.references {
            let node = match ids.get(reference) {
                Some(&n) => n,
                None => {
                    let n = tree.new_node();
                    ids.insert(reference.clone(), n);
                    n
                }
            };
            if let Some(p) = previous {
                if tree.nodes[node].parent.is_none() && !tree.reaches(node, p) {
                    tree.link(p, node);
                }
            }
            previous = Some(node);
        }
        // Step 1B: the message's own node (a new one for a missing or repeated Message-ID),
        // under its last reference.
        let own = match entry
            .message_id
            .as_ref()
            .and_then(|id| ids.get(id).copied())
        {
            Some(n) if tree.nodes[n].entry.is_none() => n,
            _ => {
                let n = tree.new_node();
                if let Some(id) = &entry.message_id {
                    ids.entry(id.clone()).or_insert(n);
                }
                n
            }
        };
        tree.nodes[own].entry = Some(index);
        // RFC 5256 §4 step 1B: the message's last reference replaces any parent it had,
        // and when that link would make a loop the old parent goes all the same.
        match previous {
            Some(p) if p != own && !tree.reaches(own, p) => tree.link(p, own),
            _ => tree.unlink(own),
        }
    }
    tree.limit_depth(MAX_DEPTH);
    // Step 2: the roots.
    let mut roots: Vec<usize> = (0..tree.nodes.len())
        .filter(|&n| tree.nodes[n].parent.is_none())
        .collect();
    // Step 3: empty nodes go; their children take their place, except that an empty root
    // with several children stays (its children do not become roots).
    fn prune(tree: &mut Tree<'_>, node: usize, is_root: bool) -> Vec<usize> {
        let children = std::mem::take(&mut tree.nodes[node].children);
        let mut kept = Vec::new();
        for child in children {
            kept.extend(prune(tree, child, false));
        }
        for &k in &kept {
            tree.nodes[k].parent = Some(node);
        }
        tree.nodes[node].children = kept;
        if tree.nodes[node].entry.is_some() {
            return vec![node];
        }
        let children = tree.nodes[node].children.clone();
        match (children.len(), is_root) {
            (0, _) => Vec::new(),
            (_, true) if children.len() > 1 => vec![node],
            _ => {
                for &c in &children {
                    tree.nodes[c].parent = None;
                }
                children
            }
        }
    }
    roots = roots
        .into_iter()
        .flat_map(|r| prune(&mut tree, r, true))
        .collect();
    for &r in &roots {
        tree.nodes[r].parent = None;
    }
    // Step 4: roots of one base subject gathered.
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &roots {
        let Some((subject, reply)) = tree.subject(r).map(|(s, r)| (s.to_string(), r)) else {
            continue;
        };
        match table.get(&subject) {
            None => {
                table.insert(subject, r);
            }
            Some(&old) => {
                let old_empty = tree.nodes[old].entry.is_none();
                let new_empty = tree.nodes[r].entry.is_none();
                let old_reply = tree.subject(old).is_some_and(|(_, rep)| rep);
                // RFC 5256 §4 step 4(A): an empty root is preferred to a message, and a
                // message that is not a reply to one that is.
                let prefer_new = !old_empty && (new_empty || (old_reply && !reply));
                if prefer_new {
                    table.insert(subject, r);
                }
            }
        }
    }
    let mut gone = vec![false; tree.nodes.len()];
    for r in roots.clone() {
        if gone[r] {
            continue;
        }
        let Some((subject, reply)) = tree.subject(r).map(|(s, rep)| (s.to_string(), rep)) else {
            continue;
        };
        let Some(&c) = table.get(&subject) else {
            continue;
        };
        if c == r || gone[c] {
            continue;
        }
        let (c_empty, r_empty) = (tree.nodes[c].entry.is_none(), tree.nodes[r].entry.is_none());
        let c_reply = tree.subject(c).is_some_and(|(_, rep)| rep);
        if c_empty && r_empty {
            for child in std::mem::take(&mut tree.nodes[r].children) {
                tree.nodes[child].parent = None;
                tree.link(c, child);
            }
            gone[r] = true;
        } else if c_empty || (!c_reply && reply) {
            tree.link(c, r);
            gone[r] = true;
        } else if r_empty || (c_reply && !reply) {
            tree.link(r, c);
            gone[c] = true;
            table.insert(subject, r);
        } else {
            let dummy = tree.new_node();
            gone.push(false);
            tree.link(dummy, c);
            tree.link(dummy, r);
            gone[c] = true;
            gone[r] = true;
            table.insert(subject, dummy);
            roots.push(dummy);
        }
    }
    roots.retain(|&r| !gone[r] && tree.nodes[r].parent.is_none());
    // Step 5: children and roots by date.
    for &r in &roots {
        tree.sort_children(r);
    }
    roots.sort_by_key(|&r| tree.date(r));
    Ok(roots
        .iter()
        .map(|&r| format!("({})", tree.members(r)))
        .collect())
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

#[cfg(test)]
mod tests {
    use super::{Tree, MAX_DEPTH};

    /// A chain of messages each replying to the one before is cut into threads of at most
    /// `MAX_DEPTH` levels, every node kept.
    #[test]
    fn deep_chains_are_cut() {
        let mut tree = Tree {
            nodes: Vec::new(),
            entries: &[],
        };
        let mut previous = tree.new_node();
        for _ in 0..5 * MAX_DEPTH {
            let next = tree.new_node();
            tree.link(previous, next);
            previous = next;
        }
        tree.limit_depth(MAX_DEPTH);
        let depth = |mut n: usize| {
            let mut d = 0;
            while let Some(p) = tree.nodes[n].parent {
                n = p;
                d += 1;
            }
            d
        };
        assert!((0..tree.nodes.len()).all(|n| depth(n) <= MAX_DEPTH));
        let roots = (0..tree.nodes.len())
            .filter(|&n| tree.nodes[n].parent.is_none())
            .count();
        assert_eq!(roots, 5);
        let children: usize = tree.nodes.iter().map(|n| n.children.len()).sum();
        assert_eq!(children + roots, tree.nodes.len(), "no node lost");
    }
}
