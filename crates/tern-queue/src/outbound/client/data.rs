//! The message text after DATA: dot-stuffed, ended with "." (RFC 5321 §4.5.2), and otherwise
//! byte for byte what was queued.

use std::time::Duration;

use super::conn::{Conn, WireError};

/// Octets of the message per write; each write has the data-block timeout.
const CHUNK: usize = 64 * 1024;

/// RFC 5321 §4.5.2: a line that begins with "." gets a second one. Lines begin at the start
/// of the message and after every LF; a bare LF counts too, so that a receiver that ends lines
/// there cannot see an end of data we did not send (SMTP smuggling).
#[derive(Debug)]
struct DotStuffer {
    line_start: bool,
}

impl DotStuffer {
    fn new() -> Self {
        Self { line_start: true }
    }

    fn stuff(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.line_start && b == b'.' {
                out.push(b'.');
            }
            out.push(b);
            self.line_start = b == b'\n';
        }
    }
}

/// What ends the text: ".\r\n", after a CRLF of ours only when the message does not already
/// end with one (so no empty line is added). An empty message is just ".\r\n".
fn terminator(message: &[u8]) -> &'static [u8] {
    if message.is_empty() || message.ends_with(b"\r\n") {
        b".\r\n"
    } else {
        b"\r\n.\r\n"
    }
}

/// Writes the message and its terminator, `CHUNK` octets at a time.
pub(super) async fn send_message(
    conn: &mut Conn,
    message: &[u8],
    block: Duration,
) -> Result<(), WireError> {
    let mut stuffer = DotStuffer::new();
    let mut out = Vec::with_capacity(CHUNK + CHUNK / 16);
    let mut chunks = message.chunks(CHUNK).peekable();
    while let Some(chunk) = chunks.next() {
        out.clear();
        stuffer.stuff(chunk, &mut out);
        if chunks.peek().is_none() {
            out.extend_from_slice(terminator(message));
        }
        conn.write(&out, block, "message").await?;
    }
    if message.is_empty() {
        conn.write(terminator(message), block, "message").await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuffed(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut stuffer = DotStuffer::new();
        // Two halves: the line state must survive a chunk boundary.
        let (a, b) = message.split_at(message.len() / 2);
        stuffer.stuff(a, &mut out);
        stuffer.stuff(b, &mut out);
        out.extend_from_slice(terminator(message));
        out
    }

    #[test]
    fn dots_at_every_line_start_are_doubled() {
        assert_eq!(
            stuffed(b".a\r\n.\r\nb.c\r\n..\r\n"),
            b"..a\r\n..\r\nb.c\r\n...\r\n.\r\n"
        );
        assert_eq!(stuffed(b"x\n.y"), b"x\n..y\r\n.\r\n");
    }

    #[test]
    fn a_crlf_is_added_only_when_missing() {
        assert_eq!(
            stuffed(b"A: b\r\n\r\nbody\r\n"),
            b"A: b\r\n\r\nbody\r\n.\r\n"
        );
        assert_eq!(stuffed(b"A: b\r\n\r\nbody"), b"A: b\r\n\r\nbody\r\n.\r\n");
        assert_eq!(stuffed(b""), b".\r\n");
    }

    #[test]
    fn a_dot_split_from_its_line_start_by_a_chunk_boundary_is_stuffed() {
        let mut out = Vec::new();
        let mut stuffer = DotStuffer::new();
        stuffer.stuff(b"a\r\n", &mut out);
        stuffer.stuff(b".b", &mut out);
        assert_eq!(out, b"a\r\n..b");
    }
}
