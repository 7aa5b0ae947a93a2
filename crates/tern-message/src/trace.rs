//! Return-Path and Received (RFC 5321 §4.4).

use tern_types::{is_address_literal, Domain};

/// What a Received header says about one hop.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    /// The name the client gave in EHLO/HELO.
    pub helo: &'a str,
    /// The client's IP address.
    pub peer_ip: std::net::IpAddr,
    /// This server's name.
    pub by: &'a str,
    /// RFC 3848 / RFC 6531 "with" value: ESMTP, ESMTPS, UTF8SMTPS, ...
    pub with: &'a str,
    /// The TLS version and cipher, when TLS was used.
    pub tls: Option<&'a str>,
    /// The session id, so the header can be matched with the logs.
    pub id: &'a str,
    /// The recipient, when the message has exactly one.
    pub for_rcpt: Option<&'a str>,
    /// Unix time of receipt.
    pub at: i64,
}

/// Keeps printable characters only: peer-supplied text must not break the header.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '(' || c == ')' { '_' } else { c })
        .collect()
}

/// `text` as the content of an RFC 5322 §3.2.2 comment: `(`, `)` and `\` become
/// quoted-pairs, and anything but printable ASCII and space (control characters, and UTF-8,
/// which a message without SMTPUTF8 cannot carry) becomes `?`.
fn comment_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// RFC 5321 §4.4 From-domain: `helo ([ip])` when the EHLO argument is a domain or an address
/// literal, as the grammar allows. Anything else is not a Domain and would be misread by
/// every parser (a `;` ends the tokens and starts the date), so the address comes first and
/// the argument goes into a comment, which RFC 5322 §3.6.7 allows anywhere in the field.
fn from_clause(helo: &str, peer_ip: std::net::IpAddr) -> String {
    let address_literal = match peer_ip {
        std::net::IpAddr::V4(ip) => format!("[{ip}]"),
        std::net::IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
    };
    if is_address_literal(helo) {
        return format!("{helo} ({address_literal})");
    }
    match Domain::parse(helo) {
        Ok(domain) => format!("{domain} ({address_literal})"),
        Err(_) => format!("{address_literal} (helo={})", comment_text(helo)),
    }
}

/// `Received: from helo ([ip]) by host (Tern) with ESMTPS (TLSv1_3 ...) id ...; date`, folded
/// so that no line exceeds 78 characters for the usual values.
pub fn received(r: &Received<'_>) -> String {
    let mut out = format!(
        "Received: from {}\r\n\tby {} (Tern) with {}",
        from_clause(r.helo, r.peer_ip),
        clean(r.by),
        clean(r.with)
    );
    if let Some(tls) = r.tls {
        out.push_str(&format!("\r\n\t(using {})", clean(tls)));
    }
    out.push_str(&format!("\r\n\tid {}", clean(r.id)));
    if let Some(rcpt) = r.for_rcpt {
        out.push_str(&format!("\r\n\tfor <{}>", clean(rcpt)));
    }
    out.push_str(&format!(";\r\n\t{}\r\n", crate::rfc5322_date(r.at)));
    out
}

/// `Return-Path: <sender>` (empty for the null sender), added at final delivery. `sender` is
/// the reverse-path in its RFC 5321 form (a quoted local part keeps its quotes, which may hold
/// parentheses); control characters are dropped all the same, so no peer can add a line.
pub fn return_path(sender: &str) -> String {
    let sender: String = sender.chars().filter(|c| !c.is_control()).collect();
    format!("Return-Path: <{sender}>\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_has_every_part_and_no_injected_lines() {
        let r = Received {
            helo: "evil\r\nX-Injected: yes",
            peer_ip: "192.0.2.1".parse().unwrap(),
            by: "mx.example.org",
            with: "ESMTPS",
            tls: Some("TLSv1_3 TLS13_AES_256_GCM_SHA384"),
            id: "0123abcd",
            for_rcpt: Some("alice@example.org"),
            at: 0,
        };
        let text = received(&r);
        assert!(text.starts_with("Received: from [192.0.2.1] (helo=evil??X-Injected: yes)\r\n\tby mx.example.org (Tern) with ESMTPS\r\n"), "{text}");
        assert!(text.contains("(using TLSv1_3 TLS13_AES_256_GCM_SHA384)"));
        assert!(text.contains("\r\n\tid 0123abcd\r\n\tfor <alice@example.org>;\r\n\tThu, 1 Jan 1970 00:00:00 +0000\r\n"));
        assert_eq!(
            text.matches("\r\n").count(),
            text.matches("\r\n\t").count() + 1
        );
        assert_eq!(return_path(""), "Return-Path: <>\r\n");
    }

    #[test]
    fn the_from_clause_keeps_domains_and_literals_and_comments_the_rest() {
        let v4 = "192.0.2.1".parse().unwrap();
        assert_eq!(from_clause("Client.Test", v4), "client.test ([192.0.2.1])");
        assert_eq!(from_clause("[192.0.2.9]", v4), "[192.0.2.9] ([192.0.2.1])");
        assert_eq!(
            from_clause("evil;by x (y) \\", v4),
            "[192.0.2.1] (helo=evil;by x \\(y\\) \\\\)"
        );
        assert_eq!(
            from_clause("a.b", "2001:db8::1".parse().unwrap()),
            "a.b ([IPv6:2001:db8::1])"
        );
        assert_eq!(
            return_path("\"a> b;c (d)\"@y.test"),
            "Return-Path: <\"a> b;c (d)\"@y.test>\r\n"
        );
    }
}
