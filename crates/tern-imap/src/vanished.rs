//! QRESYNC's answer to "what vanished since MODSEQ n" (RFC 7162 §3.2.5.1 SELECT/EXAMINE with
//! QRESYNC, §3.2.6 UID FETCH with VANISHED), as UID ranges.
//!
//! The store's expunge log names every UID expunged since n while n is at or above the log's
//! floor (`store.expunge_log_max`). Below the floor the answer is every UID under UIDNEXT that
//! is not in the mailbox: a superset, which the RFC allows ("the server MAY send UIDs that
//! were never in the mailbox or were expunged earlier") and which clients only compare with
//! what they hold. It is worked out as ranges, so a mailbox with millions of old expunges
//! costs as many ranges as it has gaps, never a UID each.

use tern_store::ChangesSince;
use tern_types::Uid;

use crate::request::Set;
use crate::respond::ranges;

/// An inclusive UID range.
type Range = (u32, u32);

/// UIDs expunged after `since`, restricted to `within` when given. `present` is the
/// mailbox's UIDs in order, needed only below the log's floor; `uid_next` its UIDNEXT.
pub(crate) fn since(
    changes: &ChangesSince,
    since: u64,
    present: &[Uid],
    uid_next: Uid,
    within: Option<&Set>,
) -> Vec<Range> {
    let gone = match since >= changes.log_floor.0 {
        true => ranges(changes.expunged.iter().map(|u| u.0)),
        false => gaps(present, uid_next.0),
    };
    match within {
        Some(set) => intersect(&gone, set, uid_next.0.saturating_sub(1)),
        None => gone,
    }
}

/// The UIDs from 1 to `uid_next - 1` that are not in `present` (ascending).
fn gaps(present: &[Uid], uid_next: u32) -> Vec<Range> {
    let mut out = Vec::new();
    let mut next = 1u32;
    for uid in present.iter().map(|u| u.0).filter(|&u| u < uid_next) {
        if uid > next {
            out.push((next, uid - 1));
        }
        next = uid.saturating_add(1);
    }
    if next < uid_next {
        out.push((next, uid_next - 1));
    }
    out
}

/// The parts of `ranges` inside `set`, `*` standing for `last`; ascending, merged.
fn intersect(ranges: &[Range], set: &Set, last: u32) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for (lo, hi) in set.ranges(last) {
        for &(start, end) in ranges {
            let (start, end) = (start.max(lo), end.min(hi));
            if start <= end {
                out.push((start, end));
            }
        }
    }
    out.sort_unstable();
    let mut merged: Vec<Range> = Vec::with_capacity(out.len());
    for (start, end) in out {
        match merged.last_mut() {
            Some((_, hi)) if start <= hi.saturating_add(1) => *hi = (*hi).max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Bound;
    use crate::respond::sequence_set;
    use tern_types::ModSeq;

    fn uids(v: &[u32]) -> Vec<Uid> {
        v.iter().map(|&u| Uid(u)).collect()
    }

    fn changes(expunged: &[u32], floor: u64) -> ChangesSince {
        ChangesSince {
            highest_modseq: ModSeq(100),
            uid_next: Uid(100),
            changed: Vec::new(),
            expunged: uids(expunged),
            log_floor: ModSeq(floor),
        }
    }

    #[test]
    fn the_log_answers_above_its_floor() {
        let c = changes(&[2, 3, 4, 9], 10);
        let gone = since(&c, 10, &uids(&[1, 5]), Uid(12), None);
        assert_eq!(sequence_set(&gone), "2:4,9");
    }

    #[test]
    fn below_the_floor_every_missing_uid_is_named() {
        let c = changes(&[9], 10);
        let gone = since(&c, 3, &uids(&[1, 5, 6, 10]), Uid(14), None);
        assert_eq!(sequence_set(&gone), "2:4,7:9,11:13");
        assert!(since(&c, 3, &uids(&[1, 2]), Uid(3), None).is_empty());
        assert_eq!(sequence_set(&since(&c, 3, &[], Uid(4), None)), "1:3");
    }

    #[test]
    fn known_uids_restrict_the_answer() {
        let c = changes(&[2, 3, 4, 9, 20], 0);
        let known = Set(vec![
            (Bound::Value(3), Bound::Value(9)),
            (Bound::Value(1), Bound::Value(2)),
        ]
        .into());
        assert_eq!(
            sequence_set(&since(&c, 5, &[], Uid(30), Some(&known))),
            "2:4,9"
        );
        let to_end = Set(vec![(Bound::Value(10), Bound::Last)].into());
        assert_eq!(
            sequence_set(&since(&c, 5, &[], Uid(30), Some(&to_end))),
            "20"
        );
    }
}
