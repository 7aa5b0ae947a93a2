//! Messages for the message layer's tests and benchmarks: a realistic mix (plain text,
//! multipart/alternative, attachments of 100 KiB to 2 MiB), a large searchable mailbox, and
//! MIME bombs, one per limit of `[mime]`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::corpus::{base64_lines, body, line};

fn headers(i: usize, subject: &str, from: &str) -> String {
    format!(
        "From: {from}\r\nTo: someone@example.test\r\nSubject: {subject}\r\n\
         Message-ID: <mix-{i}@tern.test>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
}

/// Message `i` of the realistic mix: 70 % plain text, 20 % multipart/alternative (text and
/// HTML), 10 % multipart/mixed with a base64 attachment of 100 KiB to 2 MiB.
pub fn mix_message(i: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(i as u64);
    let from = format!("Sender {} <sender{}@remote.example>", i % 97, i % 97);
    let text = match i % 10 {
        0 => {
            let size = rng.gen_range(100 * 1024..2 * 1024 * 1024);
            let attachment: Vec<u8> = (0..size).map(|_| rng.gen()).collect();
            format!(
                "{}Content-Type: multipart/mixed; boundary=\"mix{i}\"\r\n\r\n\
                 --mix{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\
                 --mix{i}\r\nContent-Type: application/pdf; name=\"report-{i}.pdf\"\r\n\
                 Content-Disposition: attachment; filename=\"report-{i}.pdf\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}--mix{i}--\r\n",
                headers(i, &format!("report {i}"), &from),
                body(&mut rng, 20, false),
                base64_lines(&attachment),
            )
        }
        1 | 2 => {
            let text = body(&mut rng, 60, false);
            let html: String = text.lines().map(|l| format!("<p>{l}</p>\r\n")).collect();
            format!(
                "{}Content-Type: multipart/alternative; boundary=\"alt{i}\"\r\n\r\n\
                 --alt{i}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\
                 --alt{i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>{html}</body></html>\r\n\
                 --alt{i}--\r\n",
                headers(i, &format!("newsletter {i}"), &from),
            )
        }
        _ => format!(
            "{}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
            headers(i, &format!("{} {i}", line(&mut rng, true)), &from),
            body(&mut rng, 80, false)
        ),
    };
    text.into_bytes()
}

/// Words that occur in few messages of [`search_message`]'s mailbox: (term, every how many
/// messages it occurs).
pub const RARE_BODY_WORD: (&str, usize) = ("quokka", 10_000);
pub const RARE_SUBJECT_WORD: (&str, usize) = ("zanzibar", 5_000);
pub const RARE_SENDER: (&str, usize) = ("needle.sender@rare.example", 20_000);

/// Message `i` of a large mailbox for search benchmarks: 1 to 3 KiB of text, a subject, one
/// of a thousand senders, and the rare terms above planted at their rates.
pub fn search_message(i: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(i as u64 ^ 0x5eed);
    let from = if i % RARE_SENDER.1 == 7 {
        RARE_SENDER.0.to_string()
    } else {
        format!("user{}@senders.example", i % 1000)
    };
    let mut subject = line(&mut rng, true).trim_start_matches('.').to_string();
    if i % RARE_SUBJECT_WORD.1 == 3 {
        subject.push_str(" Zanzibar trip");
    }
    let mut text = body(&mut rng, 30, false);
    if i % RARE_BODY_WORD.1 == 5 {
        text.push_str("we saw a Quokka at the zoo\r\n");
    }
    format!(
        "{}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}",
        headers(i, &subject, &from)
    )
    .into_bytes()
}

/// One hostile message per limit of `[mime]`, each `scale` times past the default limit
/// (scale 1: a few hundred KiB each). Names say which limit each one attacks.
pub fn mime_bombs(scale: usize) -> Vec<(&'static str, Vec<u8>)> {
    let head = "From: bomb@remote.example\r\nTo: someone@example.test\r\nSubject: bomb\r\nMIME-Version: 1.0\r\n";
    let mut out = Vec::new();

    // Nesting: multiparts inside multiparts, each with its own boundary.
    let depth = 2_000 * scale;
    let mut deep = String::from(head);
    for level in 0..depth {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"d{level}\"\r\n\r\n--d{level}\r\n"
        ));
    }
    deep.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    out.push(("depth (multipart)", deep.into_bytes()));

    // Nesting: messages inside messages.
    let mut nested = String::from(head);
    for _ in 0..depth {
        nested.push_str("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
    }
    nested.push_str("\r\nbottom\r\n");
    out.push(("depth (message/rfc822)", nested.into_bytes()));

    // Parts: a flat multipart with very many small parts.
    let mut parts = format!("{head}Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
    for n in 0..20_000 * scale {
        parts.push_str(&format!(
            "--p\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n"
        ));
    }
    parts.push_str("--p--\r\n");
    out.push(("parts", parts.into_bytes()));

    // Header fields: a header block of many short fields.
    let mut fields = String::from(head);
    for n in 0..50_000 * scale {
        fields.push_str(&format!("X-F{n}: v\r\n"));
    }
    fields.push_str("\r\nbody\r\n");
    out.push(("header fields", fields.into_bytes()));

    // Header bytes: fewer, long (but legal, folded) fields.
    let mut bytes = String::from(head);
    for n in 0..400 * scale {
        bytes.push_str(&format!("X-Long{n}: {}\r\n", "y".repeat(900)));
    }
    bytes.push_str("\r\nbody\r\n");
    out.push(("header bytes", bytes.into_bytes()));

    // One header field folded over thousands of lines.
    let folded: String = (0..5_000 * scale)
        .map(|n| format!(" word{n} and more words to fold\r\n"))
        .collect();
    let line_bomb = format!("{head}X-Folded:{folded}\r\nbody\r\n");
    out.push(("header line", line_bomb.into_bytes()));

    // RFC 2231: a file name in very many sections (short ones, so that the field stays
    // under the header line limit and this limit is the one that acts).
    let sections: String = (0..2_000 * scale)
        .map(|n| format!(";\r\n filename*{n}*=%41"))
        .collect();
    let rfc2231 = format!(
        "{head}Content-Type: multipart/mixed; boundary=\"s\"\r\n\r\n--s\r\n\
         Content-Type: application/octet-stream\r\nContent-Disposition: attachment{sections}\r\n\r\nAAAA\r\n--s--\r\n"
    );
    out.push(("RFC 2231 segments", rfc2231.into_bytes()));

    // Decoded size: base64 text far beyond the indexed amount.
    let text: Vec<u8> = b"lorem ipsum dolor "
        .iter()
        .copied()
        .cycle()
        .take(2_000_000 * scale)
        .chain(*b"finalword")
        .collect();
    let decoded = format!(
        "{head}Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        base64_lines(&text)
    );
    out.push(("decoded size", decoded.into_bytes()));
    out
}
