//! Limits that hold against hostile MIME. Past any of them the message is still stored whole;
//! only its recorded structure (or search text) stops at the limit, flagged.

/// Defaults are far above what real mail uses (the deepest real messages nest a handful of
/// levels; mailing-list digests have a few hundred parts) and low enough that one message
/// cannot make the analysis costly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MimeLimits {
    /// Nesting of multipart and message/rfc822 entities. The container at the limit is kept
    /// as one text part.
    pub max_depth: usize,
    /// MIME parts in one message, nested messages included. What follows the last part is
    /// kept in it, as one text part.
    pub max_parts: usize,
    /// Header fields in one header block (of the message, or of one part). A part over it is
    /// kept as one text part; the top-level message's envelope only reads the fields before it.
    pub max_header_fields: usize,
    /// Octets of one header block. Same treatment as `max_header_fields`.
    pub max_header_bytes: usize,
    /// Octets of one header field, folded lines included. Same treatment.
    pub max_header_line: usize,
    /// RFC 2231 sections of one parameter (`name*0`, `name*1`...). Sections past it are
    /// dropped from the recorded parameters, and the decoded file name is not recorded.
    pub max_rfc2231_segments: usize,
    /// Octets of decoded text gathered for the search index and the preview, per message.
    pub max_decoded_size: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_depth: 32,
            max_parts: 1_000,
            max_header_fields: 1_000,
            max_header_bytes: 256 * 1024,
            max_header_line: 64 * 1024,
            max_rfc2231_segments: 64,
            max_decoded_size: 8 * 1024 * 1024,
        }
    }
}
