//! EHLO and HELO (RFC 5321 §4.1.1.1).

use crate::reply::Reply;
use crate::session::{Helo, Outcome, Session};

impl Session {
    pub(crate) fn ehlo(&mut self, host: String, extended: bool) -> Outcome {
        // RFC 5321 §4.1.4: EHLO in the middle of a transaction resets it.
        self.reset();
        self.helo = Some(Helo {
            name: host.clone(),
            extended,
        });
        let hostname = self.settings.hostname.to_string();
        if !extended {
            return Outcome::reply(Reply::plain(250, vec![hostname]));
        }
        let mut lines = vec![
            format!("{hostname} greets {host}"),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.settings.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "DSN".to_string(),
        ];
        if self.submission.is_none() {
            lines.push("CHUNKING".to_string());
            lines.push("BINARYMIME".to_string());
        } else if self.user.is_none() && self.auth_allowed() {
            // RFC 4954 §4 / RFC 8314 §3.3: mechanisms that send a password are offered only
            // once the connection is encrypted (or the configuration allows it). Submission
            // takes DATA only, so that every message passes the text checks (bare CR/LF,
            // line length) and the Bcc filter; clients use DATA anyway.
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        if self.tls_available && self.info.tls.is_none() {
            lines.push("STARTTLS".to_string());
        }
        lines.push("HELP".to_string());
        // RFC 2034 §3: the EHLO response carries no enhanced status codes.
        Outcome::reply(Reply::plain(250, lines))
    }
}
