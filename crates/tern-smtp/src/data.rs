//! Message text after DATA: dot-unstuffing and the end marker, with the checks smtp-proto's
//! receiver does not make (it accepts a bare LF as a line end).
//!
//! Written by hand because the check is the point: RFC 5321 §2.3.8 allows CR and LF only
//! together, and §4.1.1.4 ends the text only at `<CRLF>.<CRLF>`. A bare LF or CR anywhere is
//! flagged, and never counts as a line end, so `<LF>.<CRLF>` or `<CR>.<CR>` cannot end the
//! message here while a more lenient next hop would see an end there (SMTP smuggling).

/// Where the receiver is within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or at the very beginning).
    LineStart,
    /// Inside a line.
    Text,
    /// After a CR inside a line.
    Cr,
    /// After a '.' at the start of a line.
    Dot,
    /// After ".\r" at the start of a line.
    DotCr,
}

/// What went wrong in the text, reported once the end marker is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Flaws {
    pub(crate) bare_newline: bool,
    pub(crate) line_too_long: bool,
}

/// Feeds DATA text through, writing the unstuffed message to an output buffer.
#[derive(Debug)]
pub(crate) struct DotReceiver {
    state: State,
    line_len: usize,
    max_line: usize,
    flaws: Flaws,
    /// The output of [`DotReceiver::feed_reusing`], kept so that a read costs no allocation.
    text: Vec<u8>,
}

impl DotReceiver {
    /// `max_line` is the longest line accepted, CRLF excluded.
    pub(crate) fn new(max_line: usize) -> Self {
        Self {
            state: State::LineStart,
            line_len: 0,
            max_line,
            flaws: Flaws::default(),
            text: Vec::new(),
        }
    }

    pub(crate) fn flaws(&self) -> Flaws {
        self.flaws
    }

    /// Consumes from `input`, appending message bytes to `out`. Returns how many input bytes
    /// were used and whether the end marker was reached (then nothing after it is used).
    ///
    /// Inside a line, the run of bytes up to the next CR or LF is found with `memchr2` and
    /// copied whole: only CR, LF and the first byte of a line go through the state machine,
    /// which decides exactly as it would byte by byte.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        let mut rest = input;
        while let Some((&b, after)) = rest.split_first() {
            if self.state == State::Text && b != b'\r' && b != b'\n' {
                let run = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
                let (text, after_run) = rest.split_at(run);
                self.text_run(text, out);
                rest = after_run;
                continue;
            }
            rest = after;
            match (self.state, b) {
                (State::LineStart, b'.') => self.state = State::Dot,
                (State::Dot, b'\r') => self.state = State::DotCr,
                (State::DotCr, b'\n') => return (input.len() - rest.len(), true),
                // RFC 5321 §4.5.2: the first '.' of a line is removed; what follows is text.
                (State::Dot, _) => {
                    self.state = State::Text;
                    self.line_len = 0;
                    self.text_byte(b, out);
                }
                (State::DotCr, _) => {
                    // ".\r" then something other than LF: a bare CR.
                    self.flaws.bare_newline = true;
                    out.push(b'\r');
                    self.state = State::Text;
                    self.line_len = 1;
                    self.text_byte(b, out);
                }
                (State::LineStart, _) => {
                    self.state = State::Text;
                    self.line_len = 0;
                    self.text_byte(b, out);
                }
                (State::Text, _) => self.text_byte(b, out),
                (State::Cr, b'\n') => {
                    out.extend_from_slice(b"\r\n");
                    self.state = State::LineStart;
                }
                (State::Cr, _) => {
                    self.flaws.bare_newline = true;
                    out.push(b'\r');
                    self.line_len += 1;
                    self.state = State::Text;
                    self.text_byte(b, out);
                }
            }
        }
        (input.len(), false)
    }

    /// [`DotReceiver::feed`] into a buffer the receiver keeps and reuses: returns this input's
    /// message bytes, how many input bytes were used, and whether the end marker was reached.
    pub(crate) fn feed_reusing(&mut self, input: &[u8]) -> (&[u8], usize, bool) {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        let (used, done) = self.feed(input, &mut text);
        self.text = text;
        (&self.text, used, done)
    }

    /// Bytes of a line that are neither CR nor LF: what `text_byte` does for each, at once.
    fn text_run(&mut self, text: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(text);
        self.line_len = self.line_len.saturating_add(text.len());
        if self.line_len > self.max_line {
            self.flaws.line_too_long = true;
        }
    }

    fn text_byte(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\r' => self.state = State::Cr,
            b'\n' => {
                // A bare LF is not a line end: the next '.' is not at a line start.
                self.flaws.bare_newline = true;
                out.push(b'\n');
                self.line_len += 1;
            }
            _ => {
                out.push(b);
                self.line_len += 1;
                if self.line_len > self.max_line {
                    self.flaws.line_too_long = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Vec<u8>, usize, bool, Flaws) {
        let mut r = DotReceiver::new(998);
        let mut out = Vec::new();
        let (used, done) = r.feed(input, &mut out);
        (out, used, done, r.flaws())
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_and_unstuffs() {
        let (out, used, done, flaws) = run(b"Subject: x\r\n\r\n..dot\r\n.x\r\nend\r\n.\r\nNEXT");
        assert!(done);
        assert_eq!(used, 33);
        assert_eq!(out, b"Subject: x\r\n\r\n.dot\r\nx\r\nend\r\n");
        assert_eq!(flaws, Flaws::default());
    }

    #[test]
    fn the_end_marker_can_be_split_across_reads() {
        let mut r = DotReceiver::new(998);
        let mut out = Vec::new();
        assert_eq!(r.feed(b"a\r\n", &mut out), (3, false));
        assert_eq!(r.feed(b".", &mut out), (1, false));
        assert_eq!(r.feed(b"\r", &mut out), (1, false));
        assert_eq!(r.feed(b"\nQUIT\r\n", &mut out), (1, true));
        assert_eq!(out, b"a\r\n");
    }

    #[test]
    fn smuggling_markers_do_not_end_the_message() {
        for marker in [
            &b"a\n.\r\nMAIL"[..],
            b"a\r\n.\nMAIL",
            b"a\r.\r\nMAIL",
            b"a\n.\nMAIL",
            b"a\r\n.\rMAIL",
        ] {
            let (_, used, done, flaws) = run(marker);
            assert!(
                !done,
                "{:?} ended the message",
                String::from_utf8_lossy(marker)
            );
            assert_eq!(used, marker.len());
            assert!(
                flaws.bare_newline,
                "{:?} not flagged",
                String::from_utf8_lossy(marker)
            );
        }
        let (_, _, done, flaws) = run(b"a\n.\r\nb\r\n.\r\n");
        assert!(done && flaws.bare_newline);
    }

    #[test]
    fn long_lines_are_flagged_past_the_limit() {
        let mut r = DotReceiver::new(10);
        let mut out = Vec::new();
        r.feed(b"0123456789\r\n", &mut out);
        assert!(!r.flaws().line_too_long);
        r.feed(b"01234567890\r\n.\r\n", &mut out);
        assert!(r.flaws().line_too_long);
    }

    /// Any CRLF message, dot-stuffed and cut into random pieces, comes back whole, and the
    /// receiver stops exactly after the end marker. Seeded, so a failure repeats.
    #[test]
    fn random_messages_in_random_pieces_round_trip() {
        let mut seed: u64 = 0x5eed;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let mut message = Vec::new();
            for _ in 0..next(20) {
                let len = next(40) as usize;
                let line: Vec<u8> = (0..len)
                    .map(|_| match next(8) {
                        0 => b'.',
                        _ => b"abcXYZ 09\t\xc3\xa9"[next(11) as usize],
                    })
                    .collect();
                message.extend_from_slice(&line);
                message.extend_from_slice(b"\r\n");
            }
            let mut wire = Vec::new();
            for line in message.split_inclusive(|&b| b == b'\n') {
                if line.first() == Some(&b'.') {
                    wire.push(b'.');
                }
                wire.extend_from_slice(line);
            }
            wire.extend_from_slice(b".\r\nQUIT\r\n");
            let mut receiver = DotReceiver::new(998);
            let mut out = Vec::new();
            let mut pos = 0;
            loop {
                let piece = (1 + next(16) as usize).min(wire.len() - pos);
                let (used, done) = receiver.feed(&wire[pos..pos + piece], &mut out);
                pos += used;
                if done {
                    break;
                }
                assert!(pos < wire.len(), "no end marker found");
            }
            assert_eq!(out, message);
            assert_eq!(&wire[pos..], b"QUIT\r\n");
            assert_eq!(receiver.flaws(), Flaws::default());
        }
    }

    /// The span scanning decides exactly as a byte-at-a-time feed: any bytes (bare CR and LF,
    /// dots, long lines, end markers) cut into random pieces give the same text, stopping
    /// point and flaws as the same bytes fed one at a time.
    #[test]
    fn pieces_and_single_bytes_agree_on_any_input() {
        let mut seed: u64 = 0xfeed;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..5000 {
            let len = next(200) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| b"..\r\r\n\nab"[next(8) as usize])
                .collect();
            let max_line = 1 + next(12) as usize;
            let mut one = DotReceiver::new(max_line);
            let mut one_out = Vec::new();
            let mut one_used = 0;
            let mut one_done = false;
            for &b in &input {
                let (used, done) = one.feed(&[b], &mut one_out);
                one_used += used;
                if done {
                    one_done = true;
                    break;
                }
            }
            let mut pieces = DotReceiver::new(max_line);
            let mut pieces_out = Vec::new();
            let mut pos = 0;
            let mut pieces_done = false;
            while pos < input.len() {
                let piece = (1 + next(24) as usize).min(input.len() - pos);
                let (text, used, done) = pieces.feed_reusing(&input[pos..pos + piece]);
                pieces_out.extend_from_slice(text);
                pos += used;
                if done {
                    pieces_done = true;
                    break;
                }
            }
            assert_eq!(pieces_out, one_out, "{:?}", String::from_utf8_lossy(&input));
            assert_eq!((pos, pieces_done), (one_used, one_done));
            assert_eq!(pieces.flaws(), one.flaws());
        }
    }

    #[test]
    fn empty_message() {
        let (out, used, done, _) = run(b".\r\n");
        assert!(done);
        assert_eq!((out.len(), used), (0, 3));
    }
}
