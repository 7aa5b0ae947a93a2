//! RETR and TOP answers streamed from the store (RFC 1939 §7): the message's wire form
//! ([`tern_message::WireForm`], the definition LIST's sizes are counted with), dot-stuffed on
//! the fly, cut after the requested body lines for TOP. The message is read in pieces of
//! [`READ_CHUNK`], so a RETR holds a few buffers whatever the size of the message.

use tern_message::{WireForm, WireSink};
use tern_store::{MessageReader, StoreError, StoreResult, READ_CHUNK};

/// RFC 1939 §3: a line of a multi-line answer that starts with "." gets another one; with
/// a line limit (TOP), only the header, the blank line and that many body lines pass.
/// Takes text already in wire form, where every line ends in CRLF.
#[derive(Debug)]
struct DotStuffer {
    at_line_start: bool,
    /// Octets of the current line so far.
    line_len: usize,
    in_body: bool,
    body_lines_left: Option<u32>,
    /// The line limit has been reached: nothing more passes.
    done: bool,
}

impl DotStuffer {
    fn new(body_lines: Option<u32>) -> Self {
        Self {
            at_line_start: true,
            line_len: 0,
            in_body: false,
            body_lines_left: body_lines,
            done: false,
        }
    }

    fn put(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while !bytes.is_empty() && !self.done {
            if self.at_line_start {
                if self.in_body {
                    if let Some(left) = self.body_lines_left.as_mut() {
                        if *left == 0 {
                            self.done = true;
                            return;
                        }
                        *left -= 1;
                    }
                }
                if bytes.first() == Some(&b'.') {
                    out.push(b'.');
                }
                self.at_line_start = false;
                self.line_len = 0;
            }
            let (line, rest) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => bytes.split_at(i + 1),
                None => (bytes, &[][..]),
            };
            out.extend_from_slice(line);
            self.line_len = self.line_len.saturating_add(line.len());
            if line.last() == Some(&b'\n') {
                self.at_line_start = true;
                // RFC 5322 §2.1: the first empty line ends the header.
                if !self.in_body && self.line_len == 2 {
                    self.in_body = true;
                }
            }
            bytes = rest;
        }
    }
}

/// The wire form going through the dot-stuffer into the output.
struct Stuffing<'a> {
    stuffer: &'a mut DotStuffer,
    out: &'a mut Vec<u8>,
}

impl WireSink for Stuffing<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.stuffer.put(bytes, self.out);
    }
}

/// The body of a RETR or TOP answer, produced piece by piece, ending with the "." line.
pub(crate) struct MessageStream {
    reader: Box<dyn MessageReader>,
    offset: u64,
    piece: Vec<u8>,
    /// `None` once the answer is complete.
    wire: Option<WireForm>,
    stuffer: DotStuffer,
}

impl std::fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream")
            .field("offset", &self.offset)
            .field("len", &self.reader.len())
            .finish_non_exhaustive()
    }
}

impl MessageStream {
    /// `body_lines` for TOP; `None` sends the whole message.
    pub(crate) fn new(reader: Box<dyn MessageReader>, body_lines: Option<u32>) -> Self {
        Self {
            reader,
            offset: 0,
            piece: Vec::new(),
            wire: Some(WireForm::new()),
            stuffer: DotStuffer::new(body_lines),
        }
    }

    /// Appends the next part of the answer to `out`: at most one piece of the message. False
    /// once the answer, its terminating "." line included, is complete.
    pub(crate) async fn next(&mut self, out: &mut Vec<u8>) -> StoreResult<bool> {
        let Some(wire) = self.wire.as_mut() else {
            return Ok(false);
        };
        if self.stuffer.done || self.offset >= self.reader.len() {
            if let Some(wire) = self.wire.take() {
                if !self.stuffer.done {
                    wire.finish(&mut Stuffing {
                        stuffer: &mut self.stuffer,
                        out,
                    });
                }
            }
            out.extend_from_slice(b".\r\n");
            return Ok(true);
        }
        self.reader
            .read_at(self.offset, READ_CHUNK, &mut self.piece)
            .await?;
        if self.piece.is_empty() {
            return Err(StoreError::Internal(format!(
                "the message ended at {} of its {} octets",
                self.offset,
                self.reader.len()
            )));
        }
        self.offset += self.piece.len() as u64;
        wire.push(
            &self.piece,
            &mut Stuffing {
                stuffer: &mut self.stuffer,
                out,
            },
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the answer's body is for `message`, sent in pieces of `piece` octets.
    fn answer(message: &[u8], lines: Option<u32>, piece: usize) -> Vec<u8> {
        let mut stuffer = DotStuffer::new(lines);
        let mut out = Vec::new();
        let mut wire = WireForm::new();
        for p in message.chunks(piece) {
            wire.push(
                p,
                &mut Stuffing {
                    stuffer: &mut stuffer,
                    out: &mut out,
                },
            );
        }
        if !stuffer.done {
            wire.finish(&mut Stuffing {
                stuffer: &mut stuffer,
                out: &mut out,
            });
        }
        out
    }

    #[test]
    fn dot_stuffing_and_line_ends_in_any_pieces() {
        for piece in 1..8 {
            assert_eq!(
                answer(b"a\r\n.b\r\n..\r\n", None, piece),
                b"a\r\n..b\r\n...\r\n"
            );
            assert_eq!(answer(b"a\nb", None, piece), b"a\r\nb\r\n");
            assert_eq!(answer(b"", None, piece), b"");
            assert_eq!(answer(b"\r\n", None, piece), b"\r\n");
            assert_eq!(answer(b"x\r.\r", None, piece), b"x\r\n..\r\n");
        }
    }

    #[test]
    fn top_sends_the_header_and_n_body_lines() {
        let m = b"Subject: x\r\nFrom: y\r\n\r\nl1\r\nl2\r\nl3\r\n";
        for piece in 1..8 {
            assert_eq!(answer(m, Some(0), piece), b"Subject: x\r\nFrom: y\r\n\r\n");
            assert_eq!(
                answer(m, Some(2), piece),
                b"Subject: x\r\nFrom: y\r\n\r\nl1\r\nl2\r\n"
            );
            assert_eq!(answer(m, Some(10), piece), m);
        }
    }
}
