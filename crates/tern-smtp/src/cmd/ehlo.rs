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
            "CHUNKING".to_string(),
            "BINARYMIME".to_string(),
            "DSN".to_string(),
        ];
        if self.tls_available && self.info.tls.is_none() {
            lines.push("STARTTLS".to_string());
        }
        lines.push("HELP".to_string());
        // RFC 2034 §3: the EHLO response carries no enhanced status codes.
        Outcome::reply(Reply::plain(250, lines))
    }
}
