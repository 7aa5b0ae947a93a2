//! The entry point of the fuzz target in `fuzz/` (and of the test that replays its seed
//! corpus): the byte-level half of a connection, without a session or a store. Not an API.

use smtp_proto::Request;

use crate::data::DotReceiver;
use crate::line::{frame, Framed};

/// What the receiver is reading, as in `conn.rs`.
enum Mode {
    Command,
    /// The rest of a too-long line, up to its LF.
    SkipLine,
    Data,
    Bdat(usize),
}

/// Feeds `input` through what the connection does with bytes from the network: command lines
/// framed by `line.rs` and parsed by smtp-proto; after `DATA` the text through the dot
/// receiver up to its end marker; after `BDAT n` n octets counted off. The first byte sets
/// both line limits (4 to 259), so short inputs reach the too-long paths. Panics when an
/// invariant of the framer or the receiver breaks.
pub fn receive(input: &[u8]) -> usize {
    let Some((&limit, mut rest)) = input.split_first() else {
        return 0;
    };
    let max_line = 4 + usize::from(limit);
    let mut commands = 0;
    let mut mode = Mode::Command;
    while !rest.is_empty() {
        let used = match mode {
            Mode::Command => match frame(rest, max_line) {
                Framed::Line(n) => {
                    check_line(rest, n, max_line);
                    commands += 1;
                    mode = match Request::parse(&mut rest[..n].iter()) {
                        Ok(Request::Data) => Mode::Data,
                        Ok(Request::Bdat { chunk_size, .. }) => Mode::Bdat(chunk_size),
                        _ => Mode::Command,
                    };
                    n
                }
                Framed::Bad(n, _) => {
                    assert_eq!(n.checked_sub(1).and_then(|i| rest.get(i)), Some(&b'\n'));
                    n
                }
                Framed::Incomplete { too_long } => {
                    assert!(!rest.contains(&b'\n'));
                    if too_long {
                        mode = Mode::SkipLine;
                    }
                    rest.len()
                }
            },
            Mode::SkipLine => match rest.iter().position(|&b| b == b'\n') {
                Some(lf) => {
                    mode = Mode::Command;
                    lf + 1
                }
                None => rest.len(),
            },
            Mode::Data => {
                let (used, done) = receive_text(rest, max_line);
                if done {
                    mode = Mode::Command;
                }
                used
            }
            Mode::Bdat(remaining) => {
                let n = remaining.min(rest.len());
                mode = match remaining - n {
                    0 => Mode::Command,
                    left => Mode::Bdat(left),
                };
                n
            }
        };
        // Every step consumes input (a zero-octet BDAT consumes none, once).
        rest = rest.get(used..).unwrap_or_default();
    }
    commands
}

/// A framed command line is CRLF-terminated, within the limit, with no other CR or LF.
fn check_line(buf: &[u8], n: usize, max: usize) {
    assert!(n >= 2 && n <= max && n <= buf.len(), "line of {n} octets");
    let (text, end) = buf[..n].split_at(n - 2);
    assert_eq!(end, b"\r\n");
    assert!(!text.iter().any(|&b| b == b'\r' || b == b'\n'));
}

/// Runs the dot receiver over `text` in one piece and again split in two, and checks both
/// agree (a network read can end anywhere). Returns the octets used and whether it ended.
fn receive_text(text: &[u8], max_line: usize) -> (usize, bool) {
    let mut whole = DotReceiver::new(max_line);
    let mut out = Vec::new();
    let (used, done) = whole.feed(text, &mut out);
    assert!(used <= text.len() && out.len() <= used);
    if done {
        // RFC 5321 §4.1.1.4: only <CRLF>.<CRLF> ends the text (the first CRLF may be the
        // one that ended the DATA command).
        let end = &text[..used];
        assert!(end.ends_with(b"\r\n.\r\n") || end == b".\r\n", "{end:?}");
    } else {
        assert_eq!(used, text.len());
    }

    let split = used / 2;
    let mut pieces = DotReceiver::new(max_line);
    let mut out_pieces = Vec::new();
    let (first, first_done) = pieces.feed(&text[..split], &mut out_pieces);
    // The first end marker is at `used`: none can be complete before it.
    assert_eq!((first, first_done), (split, false));
    let (second, second_done) = pieces.feed(&text[split..], &mut out_pieces);
    assert_eq!((first + second, second_done), (used, done));
    assert_eq!(out_pieces, out);
    assert_eq!(pieces.flaws(), whole.flaws());
    (used, done)
}
