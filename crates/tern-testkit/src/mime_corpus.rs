//! Messages for the message layer's tests and benchmarks: a realistic mix (plain text,
//! multipart/alternative, attachments of 100 KiB to 2 MiB), a varied mix of every MIME shape a
//! mail client meets (for the sync tests with real clients), a large searchable mailbox, and
//! MIME bombs, one per limit of `[mime]`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::corpus::{base64, base64_lines, body, line};

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

/// Display names and file names outside ASCII, for RFC 2047 and RFC 2231.
const NAMES: &[&str] = &[
    "Jürgen Müller",
    "Zoë Ångström",
    "山田 太郎",
    "Σωκράτης",
    "Łukasz Żółw",
];
const FILE_NAMES: &[&str] = &[
    "Übersicht 2026.pdf",
    "日本語の資料.pdf",
    "résumé — final.pdf",
    "Ωμέγα; \"quoted\" name.pdf",
    "żółw (1).pdf",
];

/// RFC 2047 encoded words for `text` ("B" or "Q" encoding, UTF-8), each under the 75
/// characters of §2, folded onto continuation lines when there are several.
fn encoded_words(text: &str, q: bool) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 24 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| {
            if q {
                let mut out = String::from("=?utf-8?Q?");
                for &b in w.as_bytes() {
                    match b {
                        b' ' => out.push('_'),
                        b if b.is_ascii_alphanumeric() => out.push(b as char),
                        _ => out.push_str(&format!("={b:02X}")),
                    }
                }
                out + "?="
            } else {
                format!("=?utf-8?B?{}?=", base64(w.as_bytes()))
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// RFC 2231 §4 value octets: everything but letters, digits and `-._` percent-encoded.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Quoted-printable (RFC 2045 §6.7) of CRLF-ended text: bytes outside printable ASCII and
/// `=` encoded, soft line breaks keeping lines within 76 characters.
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        let mut width = 0;
        for &b in line.trim_end_matches("\r\n").as_bytes() {
            let piece = if (b' '..=b'~').contains(&b) && b != b'=' {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    out
}

/// Message `i` of the varied mix, eight shapes in turn: plain ASCII text without MIME; 8-bit
/// UTF-8 text under RFC 2047 subject and sender; multipart/alternative with quoted-printable
/// HTML; multipart/mixed nesting an alternative and a PDF whose name is RFC 2231 and RFC 2047
/// encoded (preamble and epilogue included); a forwarded message/rfc822 with its own encoded
/// headers and 8-bit body; alternative nesting multipart/related with an inline image;
/// format=flowed text under long folded headers; and 8-bit and base64 attachments named by RFC
/// 2231 continuations. Attachments are 1 to 40 KiB, so a thousand messages make a few MB.
/// CRLF line ends; every message has the Message-ID `<varied-{i}@tern.test>`.
pub fn varied_message(i: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(i as u64 ^ 0x7a71_5eed);
    let name = NAMES[i % NAMES.len()];
    let file = FILE_NAMES[(i / 8) % FILE_NAMES.len()];
    let from = format!(
        "{} <sender{}@remote.example>",
        encoded_words(name, i.is_multiple_of(2)),
        i % 97
    );
    let head = |from: &str, subject: &str| {
        format!(
            "From: {from}\r\nTo: Alice <alice@example.test>\r\nSubject: {subject}\r\n\
             Message-ID: <varied-{i}@tern.test>\r\nDate: Sat, 28 Nov 2026 12:{:02}:{:02} +0000\r\n\
             MIME-Version: 1.0\r\n",
            i / 60 % 60,
            i % 60
        )
    };
    let subject = encoded_words(
        &format!("{} {i}", line(&mut rng, false)),
        i.is_multiple_of(3),
    );
    let attachment = |rng: &mut StdRng| {
        let size = rng.gen_range(1024..40 * 1024);
        base64_lines(&(0..size).map(|_| rng.gen()).collect::<Vec<u8>>())
    };
    let text_part =
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
    let text = match i % 8 {
        0 => format!(
            "From: Sender {n} <sender{n}@remote.example>\r\nTo: alice@example.test\r\n\
             Subject: plain {i}\r\nMessage-ID: <varied-{i}@tern.test>\r\n\
             Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n{}From the start of a line\r\n{}",
            body(&mut rng, 30, true),
            body(&mut rng, 10, true),
            n = i % 97
        ),
        1 => format!(
            "{}{text_part}{}",
            head(&from, &subject),
            body(&mut rng, 60, false)
        ),
        2 => {
            let text = body(&mut rng, 40, false);
            let html: String = text.lines().map(|l| format!("<p>{l}</p>\r\n")).collect();
            format!(
                "{}Content-Type: multipart/alternative; boundary=\"alt{i}\"\r\n\r\n\
                 --alt{i}\r\n{text_part}{text}\
                 --alt{i}\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Transfer-Encoding: quoted-printable\r\n\r\n{}\
                 --alt{i}--\r\n",
                head(&from, &subject),
                quoted_printable(&format!("<html><body>\r\n{html}</body></html>\r\n")),
            )
        }
        3 => format!(
            "{}Content-Type: multipart/mixed; boundary=\"=_outer{i}\"\r\n\r\n\
             This is a multi-part message in MIME format.\r\n\
             --=_outer{i}\r\nContent-Type: multipart/alternative; boundary=\"=_inner{i}\"\r\n\r\n\
             --=_inner{i}\r\n{text_part}{}\
             --=_inner{i}\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n{}\
             --=_inner{i}--\r\n\
             --=_outer{i}\r\nContent-Type: application/pdf;\r\n name=\"{}\"\r\n\
             Content-Disposition: attachment;\r\n filename*=utf-8''{}\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\
             --=_outer{i}--\r\nan epilogue line\r\n",
            head(&from, &subject),
            body(&mut rng, 20, false),
            quoted_printable(&format!("<p>{}</p>\r\n", line(&mut rng, false))),
            encoded_words(file, false),
            percent(file),
            attachment(&mut rng),
        ),
        4 => format!(
            "{}Content-Type: multipart/mixed; boundary=\"fwd{i}\"\r\n\r\n\
             --fwd{i}\r\n{text_part}Forwarded, see below.\r\n\
             --fwd{i}\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n\
             From: {}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <inner-{i}@remote.example>\r\n\
             Date: Fri, 27 Nov 2026 08:00:00 +0100\r\nMIME-Version: 1.0\r\n{text_part}{}\
             --fwd{i}--\r\n",
            head(&from, &format!("Fwd: {subject}")),
            encoded_words(NAMES[(i + 1) % NAMES.len()], true),
            encoded_words(name, false) + " <someone@remote.example>",
            encoded_words(&line(&mut rng, false), false),
            body(&mut rng, 20, false),
        ),
        5 => format!(
            "{}Content-Type: multipart/alternative; boundary=\"alt{i}\"\r\n\r\n\
             --alt{i}\r\n{text_part}{}\
             --alt{i}\r\nContent-Type: multipart/related; boundary=\"rel{i}\"; type=\"text/html\"\r\n\r\n\
             --rel{i}\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n{}\
             --rel{i}\r\nContent-Type: image/png\r\nContent-ID: <img{i}@tern.test>\r\n\
             Content-Disposition: inline; filename*=utf-8''{}.png\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\
             --rel{i}--\r\n\
             --alt{i}--\r\n",
            head(&from, &subject),
            body(&mut rng, 20, false),
            quoted_printable(&format!(
                "<html><body><p>{}</p><img src=\"cid:img{i}@tern.test\"></body></html>\r\n",
                line(&mut rng, false)
            )),
            percent(name),
            attachment(&mut rng),
        ),
        6 => {
            let references: String = (0..12)
                .map(|n| format!("\r\n <thread-{n}-{i}@remote.example>"))
                .collect();
            format!(
                "{}In-Reply-To: <thread-11-{i}@remote.example>\r\nReferences:{references}\r\n\
                 Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n\
                 Content-Transfer-Encoding: 8bit\r\n\r\n{}",
                head(&from, &format!("Re: {subject}")),
                body(&mut rng, 40, false)
                    .lines()
                    .map(|l| format!("{l} \r\n{l}\r\n"))
                    .collect::<String>()
            )
        }
        _ => {
            // Two RFC 2231 §3 sections, split between percent escapes.
            let csv = percent(&format!("{name} — données.csv"));
            let half = (csv.len() / 2..csv.len())
                .find(|&at| !csv[at.saturating_sub(2)..at].contains('%'))
                .unwrap_or(csv.len());
            let (first, second) = csv.split_at(half);
            format!(
                "{}Content-Type: multipart/mixed; boundary=\"mixed{i}\"\r\n\r\n\
                 --mixed{i}\r\n{text_part}{}\
                 --mixed{i}\r\nContent-Type: text/csv; charset=utf-8\r\n\
                 Content-Disposition: attachment;\r\n filename*0*=utf-8''{first};\r\n filename*1*={second}\r\n\
                 Content-Transfer-Encoding: 8bit\r\n\r\nnom;valeur\r\ncafé;1\r\nnaïve;2\r\n\
                 --mixed{i}\r\nContent-Type: application/octet-stream; name=\"{}\"\r\n\
                 Content-Disposition: attachment; filename=\"{}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}\
                 --mixed{i}--\r\n",
                head(&from, &subject),
                body(&mut rng, 20, false),
                encoded_words(file, true),
                encoded_words(file, true),
                attachment(&mut rng),
            )
        }
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
