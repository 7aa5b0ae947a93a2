//! The wire form of a stored message: the octets POP3 sends (before dot-stuffing) and the
//! octets LIST and STAT announce. One streaming definition serves both, so the size a client
//! is promised and the octets it gets can never disagree.
//!
//! RFC 5322 §2.3: CR and LF occur only together, as CRLF; RFC 1939 §3: every line of a
//! multi-line response ends in CRLF. A body received with BDAT (RFC 3030) is stored exactly as
//! sent and may hold a bare CR or a bare LF; on the wire each of them becomes a CRLF (each is
//! taken as a line end, as most readers of such text do), a CRLF stays as it is, and text
//! that does not end with a line end gets one. An empty body stays empty.
//!
//! The form is additive over a prefix that is already in wire form and ends in CRLF (the
//! trace headers Tern writes): `wire(prefix ++ body) = prefix.len() + wire(body)`, which lets
//! the store count each blob once for every delivery that shares it.

/// Where the wire form goes: a buffer, or a counter.
pub trait WireSink {
    fn put(&mut self, bytes: &[u8]);
}

impl WireSink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Counts the octets of the wire form without keeping them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCount(pub u64);

impl WireSink for WireCount {
    fn put(&mut self, bytes: &[u8]) {
        self.0 = self.0.saturating_add(bytes.len() as u64);
    }
}

/// Turns stored text into its wire form as it streams past, in pieces of any size.
#[derive(Debug, Clone, Default)]
pub struct WireForm {
    /// The last input octet was a CR whose meaning depends on the next one.
    pending_cr: bool,
    /// Something has been written.
    started: bool,
    /// What was written last is a line end.
    at_line_end: bool,
}

impl WireForm {
    pub fn new() -> Self {
        Self::default()
    }

    /// Converts `input`, the next piece of the text.
    pub fn push(&mut self, input: &[u8], out: &mut impl WireSink) {
        let mut rest = input;
        if self.pending_cr {
            if let Some((&first, tail)) = rest.split_first() {
                self.pending_cr = false;
                self.line_end(out);
                if first == b'\n' {
                    rest = tail;
                }
            }
        }
        // Runs of text are found with memchr (vectorised): this is on every message's path.
        while let Some(i) = memchr::memchr2(b'\r', b'\n', rest) {
            let (text, tail) = rest.split_at(i);
            self.text(text, out);
            rest = match tail {
                [b'\r', b'\n', after @ ..] => {
                    self.line_end(out);
                    after
                }
                [b'\r'] => {
                    // Whether this CR is a bare one depends on the next piece.
                    self.pending_cr = true;
                    &[]
                }
                [_, after @ ..] => {
                    // A bare CR or a bare LF: a line end.
                    self.line_end(out);
                    after
                }
                [] => &[],
            };
        }
        self.text(rest, out);
    }

    /// Ends the text: a CR still pending is a line end, and text that does not end with one
    /// gets it.
    pub fn finish(self, out: &mut impl WireSink) {
        if self.pending_cr || (self.started && !self.at_line_end) {
            out.put(b"\r\n");
        }
    }

    fn text(&mut self, text: &[u8], out: &mut impl WireSink) {
        if !text.is_empty() {
            out.put(text);
            self.started = true;
            self.at_line_end = false;
        }
    }

    fn line_end(&mut self, out: &mut impl WireSink) {
        out.put(b"\r\n");
        self.started = true;
        self.at_line_end = true;
    }
}

/// The wire form of a whole text in memory.
pub fn wire_form(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    let mut form = WireForm::new();
    form.push(text, &mut out);
    form.finish(&mut out);
    out
}

/// The length of the wire form of a text streamed in pieces.
#[derive(Debug, Clone, Default)]
pub struct WireSize {
    form: WireForm,
    count: WireCount,
}

impl WireSize {
    pub fn update(&mut self, piece: &[u8]) {
        self.form.push(piece, &mut self.count);
    }

    /// The length so far, as if the text ended here.
    pub fn total(&self) -> u64 {
        let mut count = self.count;
        self.form.clone().finish(&mut count);
        count.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_pieces(text: &[u8], size: usize) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let mut form = WireForm::new();
        let mut counted = WireSize::default();
        for piece in text.chunks(size.max(1)) {
            form.push(piece, &mut out);
            counted.update(piece);
        }
        form.finish(&mut out);
        (out, counted.total())
    }

    #[test]
    fn awkward_endings_become_crlf_lines() {
        for (text, wire) in [
            (&b""[..], &b""[..]),
            (b"a\r\nb\r\n", b"a\r\nb\r\n"),
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\r", b"a\r\n"),
            (b"a\rb", b"a\r\nb\r\n"),
            (b"a\r\r\nb", b"a\r\n\r\nb\r\n"),
            (b"no end", b"no end\r\n"),
            (b"\r", b"\r\n"),
            (b"\n", b"\r\n"),
            (b"\r\n", b"\r\n"),
            (b"\n\r", b"\r\n\r\n"),
        ] {
            assert_eq!(wire_form(text), wire, "{:?}", String::from_utf8_lossy(text));
        }
    }

    /// However the text is cut, the output and the count are the same, and they agree.
    #[test]
    fn pieces_do_not_matter_and_the_count_matches_the_output() {
        let text = b"H: v\r\n\r\nx\ry\nz\r\r\n\n\r\r.end\r";
        let whole = wire_form(text);
        for size in 1..=text.len() {
            let (out, count) = in_pieces(text, size);
            assert_eq!(out, whole, "pieces of {size}");
            assert_eq!(count, whole.len() as u64, "pieces of {size}");
        }
    }

    #[test]
    fn a_crlf_prefix_adds_its_length() {
        let prefix = b"Return-Path: <a@b>\r\nReceived: x\r\n\ty\r\n";
        for body in [&b""[..], b"a\r", b"b\n", b"c", b"\r\n", b"\n.\r"] {
            let mut both = prefix.to_vec();
            both.extend_from_slice(body);
            assert_eq!(wire_form(&both).len(), prefix.len() + wire_form(body).len());
        }
    }
}
