//! A streaming pass over the top-level header block of the message text as it arrives: it
//! counts Received fields (loop detection) and, for submission, leaves out Bcc fields.
//! Only the header block is looked at; once the blank line has passed, bytes go through
//! untouched, so the cost on a message's body is nil.

/// RFC 5321 §6.3: a message that has passed this many hops is looping. Postfix's
/// `hopcount_limit` has the same default.
pub(crate) const MAX_RECEIVED: usize = 50;

/// Longest field name looked at; a longer one is passed through (it is no Bcc or Received).
const MAX_NAME: usize = 64;

/// Blanks held after a name of [`MAX_NAME`] octets before the line counts as no field: a
/// line's length (RFC 5322 §2.1.1).
const MAX_BLANKS: usize = 998;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a header line.
    LineStart,
    /// Reading a field name (kept in `name` until its colon decides the field's fate).
    Name,
    /// In a field's value (or its continuation lines).
    Value,
    /// Past the header block.
    Body,
}

#[derive(Debug)]
pub(crate) struct HeaderFilter {
    /// Submission: RFC 6409 §8 lets the MSA fix up a message; Bcc recipients must not be shown
    /// to the others (RFC 5322 §3.6.3), and the copy we relay or deliver is the only one.
    drop_bcc: bool,
    state: State,
    name: Vec<u8>,
    /// The current field is a Bcc field being left out.
    dropping: bool,
    received: usize,
    from: usize,
    /// A copy of the header block as kept, when asked for (a success report quotes it).
    copy: Option<Vec<u8>>,
    /// The first line starts with a blank: a continuation of nothing, which after the trace
    /// fields put in front would continue the last of them (RFC 5322 §2.2.3).
    starts_folded: bool,
    /// Nothing has been seen yet.
    at_start: bool,
}

/// The most of a header block [`HeaderFilter::header_copy`] keeps.
const MAX_COPY: usize = 256 * 1024;

impl HeaderFilter {
    /// `copy_header`: keep a copy of the header block as it is stored.
    pub(crate) fn new(drop_bcc: bool, copy_header: bool) -> Self {
        Self {
            copy: copy_header.then(Vec::new),
            starts_folded: false,
            at_start: true,
            drop_bcc,
            state: State::LineStart,
            name: Vec::new(),
            dropping: false,
            received: 0,
            from: 0,
        }
    }

    /// Received fields seen in the top-level header block.
    pub(crate) fn received(&self) -> usize {
        self.received
    }

    /// From fields seen in the top-level header block: RFC 5322 §3.6 allows one, and the
    /// submission check of its addresses must not be passed by a second one (DKIM signs, and
    /// many readers show, the last).
    pub(crate) fn count_of_from_fields(&self) -> usize {
        self.from
    }

    /// Appends to `out` what of `input` is kept. Input is message text with CRLF line ends
    /// (DATA refuses bare CR and LF before it gets here), split anywhere.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let in_header = self.state != State::Body;
        self.filter(input, out);
        if let (true, Some(copy)) = (in_header, self.copy.as_mut()) {
            let room = MAX_COPY.saturating_sub(copy.len());
            let kept = &out[start..];
            copy.extend_from_slice(&kept[..kept.len().min(room)]);
        }
    }

    /// The header block as stored (and possibly the start of the body), up to 256 KiB, when
    /// the filter was asked to keep it.
    pub(crate) fn header_copy(&self) -> Option<&[u8]> {
        self.copy.as_deref()
    }

    /// Whether the message's first line starts with a blank.
    pub(crate) fn starts_folded(&self) -> bool {
        self.starts_folded
    }

    /// Whether the header block has been passed: what follows is copied as it is.
    pub(crate) fn in_body(&self) -> bool {
        self.state == State::Body
    }

    fn filter(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if let (true, Some(&first)) = (self.at_start, input.first()) {
            self.at_start = false;
            self.starts_folded = matches!(first, b' ' | b'\t');
        }
        for (i, &b) in input.iter().enumerate() {
            match self.state {
                State::Body => {
                    out.extend_from_slice(&input[i..]);
                    return;
                }
                State::LineStart => match b {
                    // RFC 5322 §2.1: the empty line ends the header block.
                    b'\r' | b'\n' => {
                        self.state = State::Body;
                        out.extend_from_slice(&input[i..]);
                        return;
                    }
                    // RFC 5322 §2.2.3: a folded line continues the field above.
                    b' ' | b'\t' => {
                        self.keep(b, out);
                        self.state = State::Value;
                    }
                    _ => {
                        self.dropping = false;
                        self.name.clear();
                        self.name.push(b);
                        self.state = State::Name;
                    }
                },
                State::Name => match b {
                    b':' => {
                        let name = self.name.trim_ascii_end();
                        if name.eq_ignore_ascii_case(b"received") {
                            self.received += 1;
                        } else if name.eq_ignore_ascii_case(b"from") {
                            self.from += 1;
                        }
                        self.dropping = self.drop_bcc && name.eq_ignore_ascii_case(b"bcc");
                        if !self.dropping {
                            out.extend_from_slice(&self.name);
                            out.push(b':');
                        }
                        self.state = State::Value;
                    }
                    // Not a field (no colon on the line): passed through as it came.
                    b'\n' => {
                        out.extend_from_slice(&self.name);
                        out.push(b);
                        self.state = State::LineStart;
                    }
                    // Blanks before the colon are part of no name (RFC 5322 §4.5.1 obs-optional:
                    // "From   :" is From, however many there are), so they never end the name.
                    // Past the longest name, and past a line's worth of blanks after it, this
                    // is no field: passed through, so that a line of blanks without a colon
                    // cannot grow the held-back name without a bound.
                    _ if self.name.len() >= MAX_NAME + MAX_BLANKS
                        || (self.name.len() >= MAX_NAME && !matches!(b, b' ' | b'\t')) =>
                    {
                        out.extend_from_slice(&self.name);
                        out.push(b);
                        self.state = State::Value;
                    }
                    _ => self.name.push(b),
                },
                State::Value => {
                    self.keep(b, out);
                    if b == b'\n' {
                        self.state = State::LineStart;
                    }
                }
            }
        }
    }

    /// At the end of the message: a field name still held back (text that ended without a
    /// colon or a line end) is passed on.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state == State::Name {
            out.append(&mut self.name);
            self.state = State::Value;
        }
    }

    fn keep(&self, b: u8, out: &mut Vec<u8>) {
        if !self.dropping {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `input` through a filter in pieces of `step` bytes.
    fn run(input: &[u8], drop_bcc: bool, step: usize) -> (Vec<u8>, usize) {
        let mut filter = HeaderFilter::new(drop_bcc, false);
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            filter.push(chunk, &mut out);
        }
        filter.finish(&mut out);
        (out, filter.received())
    }

    const MESSAGE: &[u8] = b"Received: from a\r\n\tby b\r\nFrom: a@x.test\r\nBCC : hidden@x.test,\r\n other@x.test\r\nTo: b@x.test\r\nbcc:\r\nSubject: Bcc: not a field\r\n\r\nBcc: in the body\r\nReceived: body\r\n";

    #[test]
    fn leaves_out_every_bcc_field_and_its_continuations_in_any_split() {
        let expected: &[u8] = b"Received: from a\r\n\tby b\r\nFrom: a@x.test\r\nTo: b@x.test\r\nSubject: Bcc: not a field\r\n\r\nBcc: in the body\r\nReceived: body\r\n";
        for step in 1..MESSAGE.len() {
            let (out, received) = run(MESSAGE, true, step);
            assert_eq!(out, expected, "split every {step} bytes");
            assert_eq!(received, 1);
        }
    }

    #[test]
    fn counts_from_fields_and_copies_the_header_block_as_kept() {
        let mut filter = HeaderFilter::new(true, true);
        let mut out = Vec::new();
        filter.push(b"From: a@x.test\r\nfrom : b@x", &mut out);
        filter.push(b".test\r\nBcc: c\r\n\r\nFrom: c\r\n", &mut out);
        filter.push(b"more body\r\n", &mut out);
        assert_eq!(filter.count_of_from_fields(), 2);
        assert_eq!(
            filter.header_copy(),
            Some(&b"From: a@x.test\r\nfrom : b@x.test\r\n\r\nFrom: c\r\n"[..])
        );
        assert_eq!(HeaderFilter::new(false, false).header_copy(), None);
    }

    #[test]
    fn from_with_any_number_of_blanks_before_the_colon_is_from() {
        let message = format!(
            "From{}: b@x.test\r\nFrom: a@x.test\r\n\r\n",
            " ".repeat(100)
        );
        let mut filter = HeaderFilter::new(true, false);
        let mut out = Vec::new();
        filter.push(message.as_bytes(), &mut out);
        assert_eq!(filter.count_of_from_fields(), 2);
        assert_eq!(out, message.as_bytes());
        assert!(!filter.starts_folded());
        let mut folded = HeaderFilter::new(true, false);
        folded.push(b" From: a@x.test\r\n\r\n", &mut out);
        assert!(folded.starts_folded());
    }

    #[test]
    fn a_line_of_blanks_without_a_colon_is_not_held_back() {
        let line = format!("From{}", " ".repeat(1 << 20));
        let mut filter = HeaderFilter::new(true, false);
        let mut out = Vec::new();
        filter.push(line.as_bytes(), &mut out);
        assert!(
            filter.name.len() <= MAX_NAME + MAX_BLANKS,
            "{}",
            filter.name.len()
        );
        filter.push(b"\r\n\r\n", &mut out);
        filter.finish(&mut out);
        assert_eq!(out, format!("{line}\r\n\r\n").as_bytes());
    }

    #[test]
    fn keeps_everything_when_not_submission() {
        for step in [1, 7, MESSAGE.len()] {
            assert_eq!(run(MESSAGE, false, step).0, MESSAGE);
        }
    }

    #[test]
    fn counts_received_fields_of_the_top_header_block_only() {
        let mut message = b"Received: x\r\n".repeat(51);
        message.extend_from_slice(b"\r\nReceived: y\r\n");
        assert_eq!(run(&message, false, 5).1, 51);
    }

    #[test]
    fn a_message_without_a_body_or_header_passes_through() {
        assert_eq!(run(b"\r\nbody\r\n", true, 3).0, b"\r\nbody\r\n");
        assert_eq!(run(b"\x00\x01\x02", false, 2).0, b"\x00\x01\x02");
        assert_eq!(run(b"Subject", true, 3).0, b"Subject");
        let long_name = [b"X".repeat(100), b": v\r\n\r\n".to_vec()].concat();
        assert_eq!(run(&long_name, true, 9).0, long_name);
    }
}
