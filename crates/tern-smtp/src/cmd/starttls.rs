//! STARTTLS (RFC 3207).

use crate::reply::Reply;
use crate::session::{Next, Outcome, Session};

impl Session {
    pub(crate) fn starttls(&mut self) -> Outcome {
        if self.info.tls.is_some() {
            return Outcome::reply(Reply::new(503, "5.5.1", "TLS is already active"));
        }
        if !self.tls_available {
            return Outcome::reply(Reply::new(502, "5.5.1", "STARTTLS is not available"));
        }
        // RFC 3207 §4.2: after the handshake the client starts over with EHLO.
        self.reset();
        Outcome::then(
            Reply::new(220, "2.0.0", "Ready to start TLS"),
            Next::StartTls,
        )
    }
}
