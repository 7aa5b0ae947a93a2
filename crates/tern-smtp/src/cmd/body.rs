//! DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030): receiving the message, and the durable
//! hand-off that the final reply stands for: one commit delivers it to the local mailboxes
//! that can take it and queues the rest.

use tern_message::{received, return_path, Received};
use tern_store::{EnvelopeParams, NewQueueMessage, NewRecipient, StoreError};

use crate::data::Flaws;
use crate::header_filter::{HeaderFilter, MAX_RECEIVED};
use crate::reply::Reply;
use crate::session::{Body, Next, Outcome, Recipient, Session, Transaction};
use tern_queue::{wants_success_report, DsnAction, Original, Reporter, Succeeded};

use tern_types::unix_now as now;

/// Why the current transaction cannot take a message body, if it cannot.
fn body_refusal(tx: Option<&Transaction>, chunked: bool) -> Option<Reply> {
    let Some(tx) = tx else {
        return Some(Reply::new(503, "5.5.1", "Send MAIL first"));
    };
    if tx.recipients.is_empty() {
        // RFC 5321 §3.3: no valid recipient, no data.
        return Some(Reply::new(554, "5.5.1", "No valid recipients"));
    }
    match &tx.body {
        Some(body) if body.chunked != chunked => {
            Some(Reply::new(503, "5.5.1", "DATA and BDAT cannot be mixed"))
        }
        _ if tx.binary && !chunked => {
            // RFC 3030 §3: BINARYMIME content cannot be dot-stuffed text.
            Some(Reply::new(503, "5.5.1", "BODY=BINARYMIME requires BDAT"))
        }
        _ => None,
    }
}

impl Session {
    /// Starts the transaction's body, with the blob it is written to.
    async fn start_body(&mut self, chunked: bool) -> Result<(), Reply> {
        let writer = self
            .stores
            .blobs
            .writer()
            .await
            .map_err(|e| self.store_failure(&e))?;
        // A success report quotes the header block: a copy is kept only when one may be owed.
        // Submission also counts From fields with the message layer's own parser.
        let copy_header = self.submission.is_some()
            || self.tx.as_ref().is_some_and(|t| {
                t.recipients
                    .iter()
                    .any(|r| wants_success_report(r.notify.as_deref()))
            });
        let drop_bcc = self.submission.is_some();
        if let Some(tx) = self.tx.as_mut() {
            tx.body = Some(Body {
                writer: Some(writer),
                size: 0,
                oversize: false,
                failed: false,
                chunked,
                flaws: Flaws::default(),
                filter: HeaderFilter::new(drop_bcc, copy_header),
                filtered: Vec::new(),
            });
        }
        Ok(())
    }

    pub(crate) async fn data(&mut self) -> Outcome {
        if let Some(reply) = body_refusal(self.tx.as_ref(), false) {
            return Outcome::reply(reply);
        }
        if let Err(reply) = self.start_body(false).await {
            return Outcome::reply(reply);
        }
        Outcome::then(
            Reply::plain(354, vec!["Start mail input; end with <CRLF>.<CRLF>".into()]),
            Next::ReceiveData,
        )
    }

    /// The chunk is always read (its length is known); the verdict is given after it.
    pub(crate) async fn bdat(&mut self, size: usize, last: bool) -> Outcome {
        let refusal = match body_refusal(self.tx.as_ref(), true) {
            // Not advertised on submission (see `ehlo.rs`).
            None if self.submission.is_some() => Some(Reply::new(
                502,
                "5.5.1",
                "BDAT is not offered on this port; use DATA",
            )),
            None if self.tx.as_ref().is_some_and(|t| t.body.is_none()) => {
                self.start_body(true).await.err()
            }
            other => other,
        };
        self.bdat_refusal = refusal;
        Outcome {
            reply: None,
            next: Next::ReceiveBdat { size, last },
        }
    }

    /// Adds received message bytes. Past the size limit the writer is dropped and the rest
    /// is only counted: nothing beyond the limit is buffered or stored.
    pub(crate) async fn push_body(&mut self, bytes: &[u8]) {
        let max = self.settings.max_message_size;
        let Some(body) = self.tx.as_mut().and_then(|t| t.body.as_mut()) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        body.size += bytes.len() as u64;
        if body.oversize || body.failed {
            return;
        }
        if body.size > max {
            body.oversize = true;
            body.writer = None;
            return;
        }
        // Past the header block the text goes to the blob as it came (no copy).
        let text = if body.filter.in_body() {
            bytes
        } else {
            body.filtered.clear();
            body.filter.push(bytes, &mut body.filtered);
            &body.filtered
        };
        if let Some(writer) = body.writer.as_mut() {
            if let Err(e) = writer.write(text).await {
                tracing::error!("cannot write a blob: {e}");
                body.writer = None;
                body.failed = true;
            }
        }
    }

    /// After `<CRLF>.<CRLF>`.
    pub(crate) async fn end_data(&mut self, flaws: Flaws) -> Outcome {
        if let Some(body) = self.tx.as_mut().and_then(|t| t.body.as_mut()) {
            body.flaws = flaws;
        }
        Outcome::reply(self.finish_message().await)
    }

    /// After a BDAT chunk has been read in full.
    pub(crate) async fn end_bdat(&mut self, last: bool) -> Outcome {
        if let Some(reply) = self.bdat_refusal.take() {
            return Outcome::reply(reply);
        }
        let failed = self
            .tx
            .as_ref()
            .and_then(|t| t.body.as_ref())
            .is_some_and(|b| b.oversize || b.failed);
        if last || failed {
            // RFC 3030 §2: an error on a chunk ends the transaction.
            return Outcome::reply(self.finish_message().await);
        }
        let size = self
            .tx
            .as_ref()
            .and_then(|t| t.body.as_ref())
            .map_or(0, |b| b.size);
        Outcome::reply(Reply::new(250, "2.0.0", format!("{size} octets received")))
    }

    /// Ends the transaction: refuses a flawed message, or stores it durably (delivered, or
    /// queued) and answers 250 only then (DESIGN principle 2).
    async fn finish_message(&mut self) -> Reply {
        let Some(tx) = self.tx.take() else {
            return Reply::new(503, "5.5.1", "No transaction");
        };
        let Transaction {
            sender,
            params,
            accepted,
            recipients,
            body,
            ..
        } = tx;
        let size = body.as_ref().map_or(0, |b| b.size);
        let reply = match body.as_ref().and_then(|b| self.refusal(b)) {
            Some(reply) => reply,
            None => {
                self.accept(&sender, params, &accepted, recipients, body)
                    .await
            }
        };
        let to = accepted.join(",");
        if reply.is_positive() {
            tracing::info!(from = %sender, %to, size, reply = %reply, "message accepted");
        } else {
            tracing::info!(from = %sender, %to, size, reply = %reply, "message refused");
        }
        reply
    }

    /// Why a fully received message is refused, if it is.
    fn refusal(&self, body: &Body) -> Option<Reply> {
        if body.failed {
            return Some(Reply::new(
                451,
                "4.3.0",
                "Temporary server failure, try again later",
            ));
        }
        if body.oversize {
            return Some(Reply::new(
                552,
                "5.3.4",
                format!(
                    "Message size exceeds the limit of {} bytes",
                    self.settings.max_message_size
                ),
            ));
        }
        if body.flaws.bare_newline {
            return Some(Reply::new(
                550,
                "5.5.2",
                "Bare CR or LF in message text is not allowed (RFC 5321 §2.3.8); message refused",
            ));
        }
        // RFC 5321 §6.3: too many hops is a loop; refused now rather than bounced later.
        if body.filter.received() > MAX_RECEIVED {
            return Some(Reply::new(
                554,
                "5.4.6",
                format!("Routing loop detected: more than {MAX_RECEIVED} Received header fields"),
            ));
        }
        // RFC 5322 §2.2.3: a first line that starts with a blank would continue our own
        // trace fields, and a parser that skips it would see another header than a reader.
        if self.submission.is_some() && body.filter.starts_folded() {
            return Some(Reply::new(
                550,
                "5.6.0",
                "The message starts with a folded line; it must start with a header field",
            ));
        }
        // RFC 5322 §3.6: one From field; submission checks the addresses of the only one.
        if self.submission.is_some() && body.filter.count_of_from_fields() > 1 {
            return Some(Reply::new(
                550,
                "5.6.0",
                "The message has more than one From field (RFC 5322 §3.6)",
            ));
        }
        if body.flaws.line_too_long {
            return Some(Reply::new(
                550,
                "5.6.0",
                format!(
                    "A line of the message is longer than {} octets",
                    self.settings.max_text_line
                ),
            ));
        }
        None
    }

    /// The trace headers of this hop: Return-Path and Received (RFC 5321 §4.4).
    fn trace_prefix(&self, sender: &str, smtputf8: bool, accepted: &[String], at: i64) -> Vec<u8> {
        let (helo, extended) = self
            .helo
            .as_ref()
            .map_or(("unknown", false), |h| (h.name.as_str(), h.extended));
        // RFC 3848 and RFC 6531 §3.7.3 transmission types; "A" for an authenticated client.
        let with = match (
            extended,
            smtputf8,
            self.info.tls.is_some(),
            self.user.is_some(),
        ) {
            (false, _, false, _) => "SMTP",
            (false, _, true, _) => "SMTPS",
            (true, false, false, false) => "ESMTP",
            (true, false, true, false) => "ESMTPS",
            (true, true, false, false) => "UTF8SMTP",
            (true, true, true, false) => "UTF8SMTPS",
            (true, false, false, true) => "ESMTPA",
            (true, false, true, true) => "ESMTPSA",
            (true, true, false, true) => "UTF8SMTPA",
            (true, true, true, true) => "UTF8SMTPSA",
        };
        let id = self.info.id.to_string();
        let mut prefix = return_path(sender);
        prefix.push_str(&received(&Received {
            helo,
            peer_ip: self.info.peer.ip(),
            by: self.settings.hostname.as_str(),
            with,
            tls: self.info.tls.as_deref(),
            id: &id,
            for_rcpt: match accepted {
                [only] => Some(only.as_str()),
                _ => None,
            },
            at,
        }));
        prefix.into_bytes()
    }

    /// Hands the message to the store in one commit ([`tern_store::QueueStore::accept`]) and
    /// gives the reply that stands for it.
    async fn accept(
        &self,
        sender: &str,
        params: EnvelopeParams,
        accepted: &[String],
        recipients: Vec<Recipient>,
        body: Option<Body>,
    ) -> Reply {
        // `refusal` has turned away bodies whose writer was dropped (too big, failed).
        let Some((mut writer, mut filter)) = body.and_then(|b| Some((b.writer?, b.filter))) else {
            return Reply::new(503, "5.5.1", "No message was received");
        };
        let mut rest = Vec::new();
        filter.finish(&mut rest);
        if let Err(e) = writer.write(&rest).await {
            return self.store_failure(&e);
        }
        let blob = match writer.finish().await {
            Ok(blob) => blob,
            Err(e) => return self.store_failure(&e),
        };
        let at = now();
        let mut trace_prefix = self.trace_prefix(sender, params.smtputf8, accepted, at);
        if let Some(user) = &self.user {
            // The header filter counted From fields its way; the parser whose first From the
            // check reads must not see a second one either.
            if filter
                .header_copy()
                .is_some_and(|h| tern_message::header_field_count(h, "From") > 1)
            {
                return Reply::new(
                    550,
                    "5.6.0",
                    "The message has more than one From field (RFC 5322 §3.6)",
                );
            }
            if let Some(reply) = self.check_from(user, &blob.content.meta).await {
                return reply;
            }
            trace_prefix.extend_from_slice(self.added_fields(&blob.content.meta, at).as_bytes());
        }
        // What a success report needs, before the recipients move into the message.
        let quoted = filter
            .header_copy()
            .map(|h| [&trace_prefix[..], h].concat());
        let success: Vec<Succeeded> = match quoted {
            Some(_) => recipients
                .iter()
                .map(|r| Succeeded {
                    address: r.address.clone(),
                    notify: r.notify.clone(),
                    orcpt: r.orcpt.clone(),
                    action: DsnAction::Delivered,
                    remote_mta: None,
                })
                .collect(),
            None => Vec::new(),
        };
        let envid = params.envid.clone();
        let ret = params.ret.clone();
        let message = NewQueueMessage {
            blob,
            trace_prefix,
            sender: sender.to_string(),
            params,
            recipients: recipients
                .into_iter()
                .map(|r| NewRecipient {
                    address: r.address,
                    route: r.route,
                    notify: r.notify,
                    orcpt: r.orcpt,
                })
                .collect(),
            received_at: at,
        };
        match self.stores.queue.accept(message).await {
            Ok(accepted) => {
                if accepted.queued > 0 {
                    self.queue.kick();
                }
                if let Some(quoted) = quoted {
                    let delivered: Vec<Succeeded> = accepted
                        .delivered_recipients
                        .iter()
                        .filter_map(|&i| success.get(i).cloned())
                        .collect();
                    let original = Original {
                        sender,
                        envid: envid.as_deref(),
                        ret: ret.as_deref(),
                        arrival: at,
                        message: &quoted,
                    };
                    self.report_success(&original, &delivered).await;
                }
                Reply::new(250, "2.0.0", format!("OK, queued as {}", accepted.id))
            }
            // RFC 5321 §4.2.5 and RFC 3463 4.2.2 / 5.2.2: the mailbox has no room for what
            // was actually sent, whatever SIZE promised.
            Err(StoreError::OverQuota(_)) => self.mailbox_full(),
            Err(e) => self.store_failure(&e),
        }
    }
}

impl Session {
    /// RFC 3461 §6.2.3.2: recipients delivered here whose sender asked to hear of it get a
    /// "delivered" report. Its own commit, after the message's: a failure is logged, the mail
    /// is safe either way.
    async fn report_success(&self, original: &Original<'_>, delivered: &[Succeeded]) {
        let reporter = Reporter {
            hostname: self.settings.hostname.to_string(),
            recipients: self.settings.recipients,
        };
        match reporter
            .report_success(&self.stores, original, delivered)
            .await
        {
            Ok(()) => self.queue.kick(),
            Err(e) => tracing::warn!("cannot send the success report: {e}"),
        }
    }
}
