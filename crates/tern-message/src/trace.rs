//! Return-Path and Received (RFC 5321 §4.4).

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

/// `Received: from helo ([ip]) by host (Tern) with ESMTPS (TLSv1_3 ...) id ...; date`, folded
/// so that no line exceeds 78 characters for the usual values.
pub fn received(r: &Received<'_>) -> String {
    let mut out = format!(
        "Received: from {} ([{}])\r\n\tby {} (Tern) with {}",
        clean(r.helo),
        r.peer_ip,
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

/// `Return-Path: <sender>` (empty for the null sender), added at final delivery.
pub fn return_path(sender: &str) -> String {
    format!("Return-Path: <{}>\r\n", clean(sender))
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
        assert!(text.starts_with("Received: from evilX-Injected: yes ([192.0.2.1])\r\n\tby mx.example.org (Tern) with ESMTPS\r\n"));
        assert!(text.contains("(using TLSv1_3 TLS13_AES_256_GCM_SHA384)"));
        assert!(text.contains("\r\n\tid 0123abcd\r\n\tfor <alice@example.org>;\r\n\tThu, 1 Jan 1970 00:00:00 +0000\r\n"));
        assert_eq!(
            text.matches("\r\n").count(),
            text.matches("\r\n\t").count() + 1
        );
        assert_eq!(return_path(""), "Return-Path: <>\r\n");
    }
}
