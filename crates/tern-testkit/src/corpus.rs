//! A deterministic corpus of varied messages for delivery tests: plain text, 8-bit UTF-8,
//! nested multipart with base64 attachments, lines starting with dots. CRLF line ends, lines
//! within RFC 5322's 998 octets.

use rand::{Rng, SeedableRng};

const WORDS: &[&str] = &[
    "mail",
    "server",
    "queue",
    "tern",
    "delivery",
    "message",
    "lorem",
    "ipsum",
    "dolor",
    "amet",
    "Grüße",
    "café",
    "naïve",
    "日本語",
    "Ωμέγα",
    "żółw",
    "résumé",
];

pub(crate) fn line(rng: &mut impl Rng, ascii_only: bool) -> String {
    let n = rng.gen_range(1..14);
    let mut words = Vec::new();
    for _ in 0..n {
        let w = WORDS[rng.gen_range(0..WORDS.len())];
        if ascii_only && !w.is_ascii() {
            words.push("plain");
        } else {
            words.push(w);
        }
    }
    let mut text = words.join(" ");
    // Lines that start with a dot, and a lone dot, exercise dot-stuffing both ways.
    match rng.gen_range(0..12) {
        0 => text.insert(0, '.'),
        1 => text = ".".into(),
        2 => text.insert_str(0, ".."),
        _ => {}
    }
    text
}

pub(crate) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 in lines of 76 characters, each ended by CRLF (RFC 2045 §6.8).
pub(crate) fn base64_lines(data: &[u8]) -> String {
    base64(data)
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
        .collect()
}

/// Between 1 and `max_lines - 1` lines of text.
pub(crate) fn body(rng: &mut impl Rng, max_lines: usize, ascii_only: bool) -> String {
    let lines = rng.gen_range(1..max_lines);
    (0..lines).map(|_| line(rng, ascii_only) + "\r\n").collect()
}

/// Message `i` of the corpus made from `seed`.
fn message(rng: &mut impl Rng, i: usize) -> Vec<u8> {
    let id = format!("<corpus-{i}@tern.test>");
    let common = format!("From: Corpus <corpus@remote.example>\r\nTo: someone@example.test\r\nMessage-ID: {id}\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n");
    let text = match i % 4 {
        0 => format!("{common}Subject: plain {i}\r\n\r\n{}", body(rng, 40, true)),
        1 => format!(
            "{common}Subject: 8-bit {i}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
            body(rng, 40, false)
        ),
        2 => {
            let attachment: Vec<u8> = (0..rng.gen_range(100..6000)).map(|_| rng.gen()).collect();
            let wrapped = base64_lines(&attachment);
            format!(
                "{common}Subject: multipart {i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer{i}\"\r\n\r\n\
                 This is a multi-part message in MIME format.\r\n\
                 --outer{i}\r\nContent-Type: multipart/alternative; boundary=\"inner{i}\"\r\n\r\n\
                 --inner{i}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\
                 --inner{i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{}</p>\r\n\
                 --inner{i}--\r\n\
                 --outer{i}\r\nContent-Type: application/octet-stream; name=\"data{i}.bin\"\r\nContent-Disposition: attachment; filename=\"data{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{wrapped}\
                 --outer{i}--\r\n",
                body(rng, 10, false),
                line(rng, false).trim_start_matches('.'),
            )
        }
        _ => format!("{common}Subject: dots {i}\r\n\r\n.\r\n..\r\n.hidden\r\n{}..end\r\n", body(rng, 20, true)),
    };
    text.into_bytes()
}

/// `n` messages, the same for the same `seed`.
pub fn corpus(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|i| message(&mut rng, i)).collect()
}
