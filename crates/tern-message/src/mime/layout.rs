//! The promises a stored part tree makes about its offsets, which readers (IMAP sections,
//! BINARY, partial FETCH) rely on when they seek into the blob. Checked by the tests, the
//! property tests and the fuzz target on every tree `analyse` builds.

use super::{MessageMeta, Part, PartBody};

/// Checks that every offset lies inside the blob, that each part's header precedes its body,
/// that the children of a multipart lie in order inside its body, and that an encapsulated
/// message fills its part's body; then rebuilds the blob from the tree's pieces (the gaps
/// between children being delimiters, preamble and epilogue) and compares.
pub fn check_layout(meta: &MessageMeta, blob: &[u8]) -> Result<(), String> {
    let root = &meta.root;
    if root.header_start != 0 || root.body_end != blob.len() as u64 {
        return Err(format!(
            "the root spans {}..{}, the blob 0..{}",
            root.header_start,
            root.body_end,
            blob.len()
        ));
    }
    check_part(root, blob)?;
    let mut rebuilt = Vec::with_capacity(blob.len());
    rebuild(root, blob, &mut rebuilt);
    if rebuilt != blob {
        return Err("the pieces of the tree do not rebuild the blob".into());
    }
    Ok(())
}

fn check_part(part: &Part, blob: &[u8]) -> Result<(), String> {
    let len = blob.len() as u64;
    if !(part.header_start <= part.body_start
        && part.body_start <= part.body_end
        && part.body_end <= len)
    {
        return Err(format!(
            "part {}..{}..{} is out of order or outside 0..{len}",
            part.header_start, part.body_start, part.body_end
        ));
    }
    match &part.body {
        PartBody::Leaf => Ok(()),
        PartBody::Multipart(children) => {
            let mut at = part.body_start;
            for child in children {
                if child.header_start < at {
                    return Err(format!(
                        "a child starts at {} before {at}",
                        child.header_start
                    ));
                }
                check_part(child, blob)?;
                at = child.body_end;
            }
            if at > part.body_end {
                return Err(format!(
                    "children end at {at}, after their parent's body ({})",
                    part.body_end
                ));
            }
            Ok(())
        }
        PartBody::Message(nested) => {
            if nested.root.header_start != part.body_start || nested.root.body_end != part.body_end
            {
                return Err(format!(
                    "an encapsulated message spans {}..{}, its part's body {}..{}",
                    nested.root.header_start, nested.root.body_end, part.body_start, part.body_end
                ));
            }
            check_part(&nested.root, blob)
        }
    }
}

/// Appends the part's bytes, built from its header, its children and the gaps between them.
fn rebuild(part: &Part, blob: &[u8], out: &mut Vec<u8>) {
    let slice = |from: u64, to: u64| &blob[from as usize..to as usize];
    out.extend_from_slice(slice(part.header_start, part.body_start));
    match &part.body {
        PartBody::Leaf => out.extend_from_slice(slice(part.body_start, part.body_end)),
        PartBody::Multipart(children) => {
            let mut at = part.body_start;
            for child in children {
                out.extend_from_slice(slice(at, child.header_start));
                rebuild(child, blob, out);
                at = child.body_end;
            }
            out.extend_from_slice(slice(at, part.body_end));
        }
        PartBody::Message(nested) => rebuild(&nested.root, blob, out),
    }
}
