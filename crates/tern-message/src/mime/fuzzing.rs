//! The entry point of the `mime_analyse` fuzz target (`fuzz/`), also replayed over its seed
//! corpus by the tests: analysis must terminate without panicking and keep the layout
//! promises ([`super::check_layout`]) and the limits.

use super::{analyse, check_layout, MimeLimits, Part, PartBody};

/// Limits small enough that short inputs reach every cut-off path.
pub const TIGHT: MimeLimits = MimeLimits {
    max_depth: 3,
    max_parts: 8,
    max_header_fields: 6,
    max_header_bytes: 1024,
    max_header_line: 200,
    max_rfc2231_segments: 1,
    max_decoded_size: 64,
};

/// Analyses `input` (its first byte, when odd, selects tight limits) and panics if a promise
/// is broken.
pub fn analyse_checked(input: &[u8]) {
    let limits = match input.first() {
        Some(b) if b % 2 == 1 => TIGHT,
        _ => MimeLimits::default(),
    };
    let analysis = analyse(input, &limits);
    if let Err(e) = check_layout(&analysis.meta, input) {
        panic!("layout broken: {e}");
    }
    let (depth, parts) = shape(&analysis.meta.root);
    // A level of nesting is a container and the message or parts it holds.
    assert!(depth <= 2 * limits.max_depth + 2, "depth {depth}");
    assert!(parts <= 2 * limits.max_parts + 2, "{parts} parts");
    assert!(analysis.text.body.len() <= limits.max_decoded_size + 4096);
    assert_eq!(
        super::describe(input, &limits),
        analysis.meta,
        "describe and analyse differ"
    );
    let encoded = analysis.meta.encode();
    assert!(super::MessageMeta::decode(&encoded).is_ok_and(|m| m == analysis.meta));
}

/// Depth and number of parts of a tree.
pub fn shape(part: &Part) -> (usize, usize) {
    match &part.body {
        PartBody::Leaf => (1, 1),
        PartBody::Multipart(children) => children.iter().fold((1, 1), |(d, n), c| {
            let (cd, cn) = shape(c);
            (d.max(cd + 1), n + cn)
        }),
        PartBody::Message(nested) => {
            let (d, n) = shape(&nested.root);
            (d + 1, n + 1)
        }
    }
}
