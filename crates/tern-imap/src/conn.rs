//! The connection driver: imap-codec's Fragmentizer cuts the input into command messages
//! (lines and literals), literal announcements are answered here (RFC 9051 §4.3, RFC 7888
//! LITERAL+), replies are written and message bodies streamed from the store; STARTTLS, the
//! timeouts and the shutdown live here too.

use std::sync::Arc;

use imap_codec::fragmentizer::{DecodeMessageError, FragmentInfo, Fragmentizer};
use imap_codec::imap_types::auth::AuthenticateData;
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::{AuthenticateDataCodec, CommandCodec, IdleDoneCodec};
use tern_net::{io, ConnInfo, Shutdown, Stream};
use tern_store::Change;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;

use crate::request::Request;
use crate::respond::{tagged, untagged};
use crate::session::{Next, Outcome, Piece, Session};
use crate::ImapShared;

/// The read buffer of a quiet connection. It doubles while reads fill it (a large APPEND)
/// up to [`READ_CHUNK`], and goes back to this size when no command is half-read: a session
/// that idles (or sits in IDLE) holds a few kilobytes, not its largest transfer.
const SMALL_READ: usize = 1024;
const READ_CHUNK: usize = 64 * 1024;
/// A command at least this long leaves the Fragmentizer's buffers that large (it clears them
/// but keeps their capacity); a fresh one replaces it once nothing is half-read.
const LARGE_COMMAND: usize = 4 * 1024;
/// What an answer buffer is shrunk to after a large answer.
const SMALL_OUT: usize = 1024;
/// Bytes of a message body read from the store and written per step.
const STREAM_CHUNK: usize = 64 * 1024;

pub(crate) async fn run(
    stream: Box<dyn Stream>,
    info: ConnInfo,
    shared: Arc<ImapShared>,
    shutdown: Shutdown,
) {
    let settings = &shared.settings;
    let mut session = Session::new(shared.clone(), info);
    let mut stream = stream;
    let mut frag = Fragmentizer::new(fragmentizer_limit(settings));
    // Bytes given to the Fragmentizer since a command last completed: before login this may
    // not pass `max_prelogin_literal` plus a command line, whatever the input looks like.
    let mut pending: usize = 0;
    // Octets given to the Fragmentizer, and octets of the commands it completed, since it was
    // made: what lies between is input read but not yet parsed (COMPRESS needs it), always the
    // tail of the last read (`last_read`).
    let (mut enqueued, mut consumed, mut last_read) = (0usize, 0usize, 0usize);
    let mut scratch = vec![0u8; SMALL_READ];
    // The longest command since the Fragmentizer was last replaced.
    let mut longest: usize = 0;
    let mut auth_tag: Option<String> = None;
    // IDLE (RFC 2177): its tag and the store's change events, while the client idles.
    let mut idle: Option<(String, broadcast::Receiver<Change>)> = None;
    let mut out = session.greeting();
    loop {
        // Everything complete in the input is answered before the next read.
        while let Some(info) = frag.progress() {
            if let FragmentInfo::Line {
                announcement: Some(announcement),
                end,
                ..
            } = info
            {
                let limit = literal_limit(&session, &shared, frag.message_bytes());
                let allowed = u64::from(announcement.length) <= limit;
                match (allowed, announcement.mode) {
                    (true, LiteralMode::Sync) => {
                        out.extend_from_slice(b"+ Ready for literal data\r\n")
                    }
                    (true, LiteralMode::NonSync) => {}
                    // RFC 9051 §7.1 TOOBIG: refused before the client sends it.
                    (false, LiteralMode::Sync) => {
                        let tag = frag.decode_tag().map(|t| t.as_ref().to_string());
                        tagged(
                            &mut out,
                            tag.as_deref().unwrap_or("*"),
                            "NO",
                            "[TOOBIG] Literal too large",
                        );
                        // The refused command's octets are gone from the input: counted as
                        // consumed, so what COMPRESS finds unparsed stays exact.
                        consumed += end;
                        frag.skip_message();
                    }
                    // Already in flight: swallowed, answered when it has passed.
                    (false, LiteralMode::NonSync) => frag.poison_message(),
                }
                continue;
            }
            if !frag.is_message_complete() {
                continue;
            }
            pending = 0;
            if let FragmentInfo::Line { end, .. } = info {
                consumed += end;
            }
            longest = longest.max(frag.message_bytes().len());
            if let Some((tag, _)) = idle.take() {
                session.idle_done();
                match frag.decode_message(&IdleDoneCodec::default()) {
                    Ok(_) => tagged(&mut out, &tag, "OK", "IDLE terminated"),
                    Err(_) => tagged(&mut out, &tag, "BAD", "Expected DONE"),
                }
                continue;
            }
            let mut outcome = match auth_tag.take() {
                Some(tag) => {
                    let data = match frag.decode_message(&AuthenticateDataCodec::default()) {
                        Ok(AuthenticateData::Continue(data)) => Some(data.declassify().to_vec()),
                        _ => None,
                    };
                    session.auth_data(&tag, data).await
                }
                // Deep nesting (SEARCH's NOT/OR groups, lists) is refused before the parser
                // recurses into it.
                None if nesting(frag.message_bytes()) > settings.max_nesting => {
                    let tag = frag.decode_tag().map(|t| t.as_ref().to_string());
                    let mut bad = Vec::new();
                    tagged(
                        &mut bad,
                        tag.as_deref().unwrap_or("*"),
                        "BAD",
                        "Parentheses nested too deeply",
                    );
                    Outcome {
                        pieces: vec![Piece::Bytes(bad)],
                        next: Next::Continue,
                    }
                }
                None => match frag.decode_message(&CommandCodec::default()) {
                    Ok(command) => {
                        let tag = command.tag.as_ref().to_string();
                        let request = Request::from_command(&command);
                        session.command(&tag, request).await
                    }
                    Err(e) => {
                        // Extension syntax imap-codec does not read (ESEARCH, LIST-EXTENDED).
                        let extended = match e {
                            DecodeMessageError::DecodingFailure(_) => {
                                crate::extended::parse(frag.message_bytes())
                            }
                            _ => None,
                        };
                        if let Some(parsed) = extended {
                            match parsed {
                                Ok((tag, request)) => session.command(&tag, request).await,
                                Err(tag) => {
                                    let mut bad = Vec::new();
                                    tagged(&mut bad, &tag, "BAD", "Syntax error in command");
                                    Outcome::done(bad)
                                }
                            }
                        } else {
                            let tag = frag.decode_tag().map(|t| t.as_ref().to_string());
                            let why = match e {
                                DecodeMessageError::MessagePoisoned { .. } => {
                                    "[TOOBIG] Literal too large"
                                }
                                DecodeMessageError::MessageTooLong { .. } => {
                                    "[TOOBIG] Command too long"
                                }
                                _ => "Syntax error in command",
                            };
                            let mut bad = Vec::new();
                            match (tag, why.starts_with("[TOOBIG]")) {
                                (Some(tag), true) => tagged(&mut bad, &tag, "NO", why),
                                (Some(tag), false) => tagged(&mut bad, &tag, "BAD", why),
                                (None, _) => untagged(&mut bad, &format!("BAD {why}")),
                            }
                            Outcome {
                                pieces: vec![Piece::Bytes(bad)],
                                next: Next::Continue,
                            }
                        }
                    }
                },
            };
            loop {
                let mut pieces = outcome.pieces.into_iter().peekable();
                while let Some(piece) = pieces.next() {
                    match piece {
                        Piece::Bytes(bytes) => out.extend_from_slice(&bytes),
                        Piece::Range {
                            mailbox,
                            uid,
                            range,
                        } if is_small(&range) => {
                            if !send_small_ranges(
                                &mut out,
                                &mut pieces,
                                (mailbox, uid, range),
                                &shared,
                            )
                            .await
                            {
                                return;
                            }
                            if out.len() >= STREAM_CHUNK
                                && !send(&mut stream, &mut out, &shared, &shutdown).await
                            {
                                return;
                            }
                        }
                        Piece::Range {
                            mailbox,
                            uid,
                            range,
                        } => {
                            if !send(&mut stream, &mut out, &shared, &shutdown).await {
                                return;
                            }
                            if !stream_range(&mut stream, &shared, mailbox, uid, range, &shutdown)
                                .await
                            {
                                return;
                            }
                        }
                    }
                }
                match outcome.next {
                    Next::Fetch(run) => {
                        // A long FETCH goes out window by window: the client parses the first
                        // while the next is built.
                        if !send(&mut stream, &mut out, &shared, &shutdown).await {
                            return;
                        }
                        outcome = session.fetch_window(Vec::new(), run).await;
                        continue;
                    }
                    Next::Continue => {}
                    Next::AuthData(tag) => auth_tag = Some(tag),
                    Next::Idle(tag) => {
                        // Watching starts before a last look, so no change falls in between.
                        let changes = shared.stores.mailboxes.watch();
                        session.refresh(&mut out).await;
                        idle = Some((tag, changes));
                    }
                    Next::Close => {
                        if send(&mut stream, &mut out, &shared, &shutdown).await {
                            let _ =
                                io::bounded(stream.shutdown(), settings.idle_timeout, &shutdown)
                                    .await;
                        }
                        return;
                    }
                    Next::Compress => {
                        if !send(&mut stream, &mut out, &shared, &shutdown).await {
                            return;
                        }
                        // What the client sent after COMPRESS is already deflated (RFC 4978 §3):
                        // it goes to the inflater, and the parser starts afresh.
                        let unparsed = enqueued - consumed;
                        let Some(already) = last_read
                            .checked_sub(unparsed)
                            .and_then(|start| scratch.get(start..last_read))
                        else {
                            return;
                        };
                        let already = already.to_vec();
                        frag = Fragmentizer::new(fragmentizer_limit(settings));
                        (pending, enqueued, consumed, longest) = (0, 0, 0, 0);
                        stream = crate::compress::deflate(stream, already);
                    }
                    Next::StartTls => {
                        if !send(&mut stream, &mut out, &shared, &shutdown).await {
                            return;
                        }
                        // RFC 9051 §6.2.1: nothing the client sent before the handshake counts
                        // (command injection, CVE-2011-0411 class).
                        frag = Fragmentizer::new(fragmentizer_limit(settings));
                        (pending, enqueued, consumed) = (0, 0, 0);
                        let Some((tls, description)) = shared.tls.upgrade(stream, "STARTTLS").await
                        else {
                            return;
                        };
                        session.tls_started(description);
                        stream = tls;
                    }
                }
                break;
            }
        }
        if !send(&mut stream, &mut out, &shared, &shutdown).await {
            return;
        }
        // Every complete command has been answered (`progress` took all input): with no
        // command half-read, the large buffers go.
        if frag.message_bytes().is_empty() {
            if longest >= LARGE_COMMAND {
                frag = Fragmentizer::new(fragmentizer_limit(settings));
                (longest, enqueued, consumed) = (0, 0, 0);
            }
            if scratch.len() > SMALL_READ {
                scratch = vec![0u8; SMALL_READ];
            }
        }
        // RFC 9051 §5.4: 30 minutes of inactivity after login; less before it.
        let wait = if session.is_authenticated() {
            settings.idle_timeout
        } else {
            settings.prelogin_timeout
        };
        let read = tokio::select! {
            _ = shutdown.begun() => {
                untagged(&mut out, "BYE [UNAVAILABLE] Server shutting down");
                let _ = send(&mut stream, &mut out, &shared, &shutdown).await;
                return;
            }
            changed = next_change(&mut idle, session.selected_mailbox()) => {
                if changed {
                    session.refresh(&mut out).await;
                }
                continue;
            }
            read = tokio::time::timeout(wait, stream.read(&mut scratch)) => read,
        };
        match read {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(n)) => {
                pending += n;
                let bound = settings.max_prelogin_literal as usize + PRELOGIN_LINE;
                if !session.is_authenticated() && pending > bound {
                    untagged(&mut out, "BYE [TOOBIG] Command too long before login");
                    let _ = send(&mut stream, &mut out, &shared, &shutdown).await;
                    return;
                }
                frag.enqueue_bytes(scratch.get(..n).unwrap_or_default());
                (enqueued, last_read) = (enqueued + n, n);
                if n == scratch.len() && scratch.len() < READ_CHUNK {
                    scratch.resize(scratch.len() * 2, 0);
                }
            }
            Err(_) => {
                tracing::info!("autologout");
                untagged(&mut out, "BYE Autologout; idle for too long");
                let _ = send(&mut stream, &mut out, &shared, &shutdown).await;
                return;
            }
        }
    }
}

/// The largest literal accepted now, for the command read so far (`message`): small before
/// login (nobody unknown may make us buffer much); after it, a message of an APPEND up to the
/// APPEND limit (RFC 7889) and what is left of the command's whole bound (the second message
/// of a MULTIAPPEND is refused before it is sent, not after), and for any other command what
/// is left of `imap.max_command_size` (a SEARCH or a LOGIN has no use for megabytes).
fn literal_limit(session: &Session, shared: &ImapShared, message: &[u8]) -> u64 {
    let settings = &shared.settings;
    if !session.is_authenticated() {
        return settings.max_prelogin_literal;
    }
    let mut words = message.split(|&b| b == b' ').skip(1);
    let verb = words.next().unwrap_or_default();
    match verb.eq_ignore_ascii_case(b"APPEND") {
        true => u64::from(settings.append_limit)
            .min(u64::from(fragmentizer_limit(settings)).saturating_sub(message.len() as u64)),
        false => u64::from(settings.max_command_size).saturating_sub(message.len() as u64),
    }
}

/// Waits, while the client idles, for a change to the selected mailbox (true), or for ever
/// otherwise. A lagging receiver counts as a change: the store is asked anyway.
async fn next_change(
    idle: &mut Option<(String, broadcast::Receiver<Change>)>,
    mailbox: Option<tern_types::MailboxId>,
) -> bool {
    let (Some((_, changes)), Some(mailbox)) = (idle.as_mut(), mailbox) else {
        return std::future::pending().await;
    };
    loop {
        match changes.recv().await {
            Ok(change) if change.mailbox == mailbox => return true,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return true,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// How deep parentheses nest in a command, outside quoted strings and literals.
fn nesting(command: &[u8]) -> usize {
    let (mut depth, mut deepest, mut quoted, mut escaped) = (0usize, 0usize, false, false);
    let mut i = 0;
    while i < command.len() {
        let b = command[i];
        match (quoted, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') => quoted = false,
            (true, _) => {}
            (false, b'"') => quoted = true,
            (false, b'(') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b')') => depth = depth.saturating_sub(1),
            // A literal's octets are data: `{n}` (or `{n+}`) then CRLF, then n octets.
            (false, b'{') => {
                let digits: Vec<u8> = command[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .copied()
                    .collect();
                if let Ok(n) = std::str::from_utf8(&digits).unwrap_or("x").parse::<usize>() {
                    if let Some(lf) = command[i..].iter().position(|&c| c == b'\n') {
                        i = i.saturating_add(lf + 1).saturating_add(n);
                        continue;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// Room for the command line around a literal before login: enough for the longest ID
/// command RFC 2971 §3.3 allows (30 fields of up to 30 octets, values of up to 1,024), which
/// clients send before login.
const PRELOGIN_LINE: usize = 32 * 1024;

/// A whole command, literals included, is buffered up to this (an APPEND is the largest).
fn fragmentizer_limit(settings: &crate::ImapSettings) -> u32 {
    settings
        .append_limit
        .max(settings.max_command_size)
        .saturating_add(PRELOGIN_LINE as u32)
}

/// Writes and empties `out`; false when the client is gone or stalls past the idle timeout.
async fn send(
    stream: &mut Box<dyn Stream>,
    out: &mut Vec<u8>,
    shared: &ImapShared,
    shutdown: &Shutdown,
) -> bool {
    if out.is_empty() {
        return true;
    }
    let sent = io::write_all(stream, out, shared.settings.idle_timeout, shutdown)
        .await
        .is_ok();
    out.clear();
    // A large answer (a FETCH of many envelopes) does not stay with an idle connection.
    if out.capacity() > STREAM_CHUNK {
        out.shrink_to(SMALL_OUT);
    }
    sent
}

/// A message range this long or shorter is read with others (`send_small_ranges`); longer
/// ones are streamed on their own.
const SMALL_RANGE: u64 = 256 * 1024;
/// Octets of small ranges read together at most, and how many.
const RANGES_OCTETS: u64 = 1024 * 1024;
const RANGES_AT_ONCE: usize = 256;

fn is_small(range: &std::ops::Range<u64>) -> bool {
    range.end.saturating_sub(range.start) <= SMALL_RANGE
}

/// Appends `first` and the small ranges of the same mailbox that follow it among `pieces`
/// (with the bytes between them) to `out`, their octets read from the store together: a
/// FETCH of thousands of small messages costs a store read per batch, not per message.
/// False if a message could not be read (its literal's length is promised already).
async fn send_small_ranges(
    out: &mut Vec<u8>,
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
    first: (tern_types::MailboxId, tern_types::Uid, std::ops::Range<u64>),
    shared: &ImapShared,
) -> bool {
    let (mailbox, uid, range) = first;
    let mut octets = range.end - range.start;
    let mut wanted = vec![(uid, range)];
    // What goes out, in order: bytes as they are, `None` for the next range read.
    let mut layout: Vec<Option<Vec<u8>>> = vec![None];
    while octets < RANGES_OCTETS && wanted.len() < RANGES_AT_ONCE {
        match pieces.peek() {
            Some(Piece::Bytes(_)) => {
                if let Some(Piece::Bytes(bytes)) = pieces.next() {
                    layout.push(Some(bytes));
                }
            }
            Some(Piece::Range {
                mailbox: next,
                range,
                ..
            }) if *next == mailbox && is_small(range) => {
                if let Some(Piece::Range { uid, range, .. }) = pieces.next() {
                    octets += range.end - range.start;
                    wanted.push((uid, range));
                    layout.push(None);
                }
            }
            _ => break,
        }
    }
    let lengths: Vec<u64> = wanted.iter().map(|(_, r)| r.end - r.start).collect();
    let read = match shared.stores.mailboxes.read_ranges(mailbox, wanted).await {
        Ok(read) => read,
        Err(e) => {
            tracing::error!("cannot read messages while sending them: {e}");
            return false;
        }
    };
    let mut read = read.into_iter().zip(lengths);
    for part in layout {
        match part {
            Some(bytes) => out.extend_from_slice(&bytes),
            None => match read.next() {
                Some((body, length)) if body.len() as u64 == length => {
                    let start = out.len();
                    out.extend_from_slice(&body);
                    crate::respond::mask_nul(&mut out[start..]);
                }
                _ => {
                    tracing::error!("a message was shorter than its recorded size");
                    return false;
                }
            },
        }
    }
    true
}

/// Streams octets `range` of a message from the store, 64 KiB at a time.
async fn stream_range(
    stream: &mut Box<dyn Stream>,
    shared: &ImapShared,
    mailbox: tern_types::MailboxId,
    uid: tern_types::Uid,
    range: std::ops::Range<u64>,
    shutdown: &Shutdown,
) -> bool {
    let reader = match shared.stores.mailboxes.open_message(mailbox, uid).await {
        Ok(reader) => reader,
        Err(e) => {
            // The literal's length is promised: nothing honest can follow.
            tracing::error!("cannot read a message while sending it: {e}");
            return false;
        }
    };
    let mut buf = Vec::with_capacity(STREAM_CHUNK);
    let mut offset = range.start;
    while offset < range.end {
        let want = usize::try_from(range.end - offset)
            .unwrap_or(STREAM_CHUNK)
            .min(STREAM_CHUNK);
        if let Err(e) = reader.read_at(offset, want, &mut buf).await {
            tracing::error!("cannot read a message while sending it: {e}");
            return false;
        }
        if buf.is_empty() {
            return false;
        }
        offset += buf.len() as u64;
        crate::respond::mask_nul(&mut buf);
        if !send(stream, &mut buf, shared, shutdown).await {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::nesting;

    #[test]
    fn nesting_outside_strings_and_literals() {
        assert_eq!(nesting(b"a SEARCH NOT (OR (SEEN) (FLAGGED))\r\n"), 2);
        assert_eq!(nesting(b"a SEARCH SUBJECT \"((((\"\r\n"), 0);
        assert_eq!(nesting(b"a SEARCH SUBJECT {4}\r\n((((\r\n"), 0);
        assert_eq!(nesting(b"a X \"\\\"(\" (\r\n"), 1);
        assert_eq!(
            nesting(b"a X {99999999999999999999}\r\n(("),
            2,
            "no skip, no panic"
        );
        assert_eq!(
            nesting(b"a X {18446744073709551615}\r\n(("),
            0,
            "skipped to the end"
        );
    }
}
