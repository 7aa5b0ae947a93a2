//! Delivery status notifications: the message a sender gets when mail to some recipients
//! failed for good or is late (RFC 3464 inside an RFC 6522 multipart/report), built with
//! mail-builder. Pure: the scheduler decides when one is due (never for a null sender,
//! RFC 3461 §6.2 / RFC 5321 §6.1) and queues it with the null sender.

use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use tern_message::{header_block_len, rfc5322_date};

/// RFC 3464 §2.3.3 Action field: what happened to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    /// Permanent failure, or the queue's maximum age reached: the message is not delivered.
    Failed,
    /// Still being retried (a delay warning).
    Delayed,
    /// Delivered to the recipient's mailbox here (NOTIFY=SUCCESS, RFC 3461 §6.2.3.2).
    Delivered,
    /// Handed to a server that does not offer DSN, so no further notice will come
    /// (NOTIFY=SUCCESS, RFC 3461 §6.2.3.3).
    Relayed,
}

impl DsnAction {
    fn as_str(self) -> &'static str {
        match self {
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
            DsnAction::Delivered => "delivered",
            DsnAction::Relayed => "relayed",
        }
    }
}

/// One recipient's report (RFC 3464 §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// The address delivery was tried to.
    pub address: String,
    /// RFC 3461 ORCPT as given at submission (`rfc822;bob@example.org`), if any.
    pub original: Option<String>,
    pub action: DsnAction,
    /// RFC 3463 enhanced status code, e.g. `5.1.1`.
    pub status: String,
    /// The server that answered, e.g. `mx.example.org`.
    pub remote_mta: Option<String>,
    /// That server's reply (`550 5.1.1 no such user`) or our reason.
    pub diagnostic: Option<String>,
    /// Seconds since the epoch.
    pub last_attempt: i64,
}

/// What to return of the original message (RFC 3461 §4.3 RET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnContent {
    /// Its header block only (RET=HDRS, and the default).
    Headers,
    /// The whole message (RET=FULL), when no larger than the given octets; else headers.
    Full { max: usize },
}

/// Everything a DSN says.
#[derive(Debug, Clone)]
pub struct Dsn<'a> {
    /// This server's name: `MAILER-DAEMON@` it, and the Reporting-MTA.
    pub reporting_mta: &'a str,
    /// Where the DSN goes: the original message's envelope sender.
    pub to: &'a str,
    /// RFC 3461 ENVID, if the sender gave one.
    pub envid: Option<&'a str>,
    /// When the original message arrived (seconds since the epoch).
    pub arrival: i64,
    pub recipients: &'a [DsnRecipient],
    /// The original message as queued (trace prefix and body).
    pub original: &'a [u8],
    pub ret: ReturnContent,
    /// Now (seconds since the epoch), for Date.
    pub now: i64,
    /// A unique token for the Message-ID.
    pub id: &'a str,
}

/// The most of the original's header block a report returns.
const MAX_RETURNED_HEADERS: usize = 256 * 1024;

/// Octets of one field value at most: RFC 5322 §2.1.1 lines stay under 998 octets.
const MAX_VALUE: usize = 900;

/// One line: the lines of a multi-line value (an SMTP reply) joined by spaces, so a value
/// from the network cannot start a new field, cut (at a character) to [`MAX_VALUE`] octets.
fn one_line(value: &str) -> String {
    let mut line = value
        .split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .replace(|c: char| c.is_control(), " ");
    if line.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
    }
    line
}

/// What the report is mainly about: a failure if any recipient failed, else a delay if any is
/// late, else a success.
fn kind(dsn: &Dsn<'_>) -> DsnAction {
    let has = |action| dsn.recipients.iter().any(|r| r.action == action);
    if has(DsnAction::Failed) {
        DsnAction::Failed
    } else if has(DsnAction::Delayed) {
        DsnAction::Delayed
    } else {
        DsnAction::Delivered
    }
}

/// The human-readable part (RFC 6522 §3: the first part of a report).
fn explanation(dsn: &Dsn<'_>) -> String {
    let outcome = match kind(dsn) {
        DsnAction::Failed => {
            "could not be delivered to the recipients below. It will not be tried again."
        }
        DsnAction::Delayed => {
            "has not been delivered yet to the recipients below. It is still being tried; you \
             need not send it again."
        }
        DsnAction::Delivered | DsnAction::Relayed => {
            "was delivered to the recipients below, as you asked to be told. (\"relayed\" \
             means it went on to a server that sends no further reports.)"
        }
    };
    let mut text = format!(
        "This is the mail system at {}.\r\n\r\nYour message {outcome}\r\n\r\n",
        one_line(dsn.reporting_mta)
    );
    for r in dsn.recipients {
        text.push_str(&format!("<{}>: ", one_line(&r.address)));
        match &r.diagnostic {
            Some(d) => text.push_str(&one_line(d)),
            None => text.push_str(&format!("status {}", one_line(&r.status))),
        }
        text.push_str("\r\n");
    }
    text
}

/// RFC 3464 §2.2 per-message fields, then §2.3 per-recipient fields, each group ended by a
/// blank line.
fn delivery_status(dsn: &Dsn<'_>) -> String {
    let mut s = format!("Reporting-MTA: dns; {}\r\n", one_line(dsn.reporting_mta));
    if let Some(envid) = dsn.envid {
        s.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(envid)));
    }
    s.push_str(&format!("Arrival-Date: {}\r\n", rfc5322_date(dsn.arrival)));
    for r in dsn.recipients {
        s.push_str("\r\n");
        if let Some(original) = &r.original {
            s.push_str(&format!("Original-Recipient: {}\r\n", one_line(original)));
        }
        s.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\n",
            one_line(&r.address)
        ));
        s.push_str(&format!("Action: {}\r\n", r.action.as_str()));
        s.push_str(&format!("Status: {}\r\n", one_line(&r.status)));
        if let Some(mta) = &r.remote_mta {
            s.push_str(&format!("Remote-MTA: dns; {}\r\n", one_line(mta)));
        }
        if let Some(d) = &r.diagnostic {
            s.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(d)));
        }
        s.push_str(&format!(
            "Last-Attempt-Date: {}\r\n",
            rfc5322_date(r.last_attempt)
        ));
    }
    s
}

/// The DSN message, ready to queue with the null sender.
pub fn build(dsn: &Dsn<'_>) -> Vec<u8> {
    let subject = match kind(dsn) {
        DsnAction::Failed => "Undelivered Mail Returned to Sender",
        DsnAction::Delayed => "Delayed Mail (still being retried)",
        DsnAction::Delivered | DsnAction::Relayed => "Successful Mail Delivery Report",
    };
    let returned = match dsn.ret {
        ReturnContent::Full { max } if dsn.original.len() <= max => {
            MimePart::new(ContentType::new("message/rfc822"), dsn.original)
                // RFC 2046 §5.2.1: message/rfc822 is never base64 or quoted-printable.
                .transfer_encoding("8bit")
        }
        // A message without a blank line is all header block: the part stays bounded anyway.
        _ => MimePart::new(
            ContentType::new("text/rfc822-headers"),
            &dsn.original[..header_block_len(dsn.original).min(MAX_RETURNED_HEADERS)],
        )
        .transfer_encoding("8bit"),
    };
    let status = delivery_status(dsn);
    // RFC 6533 §3: UTF-8 addresses or replies make it a global delivery status, 8-bit.
    let (status_type, status_encoding) = if status.is_ascii() {
        ("message/delivery-status", "7bit")
    } else {
        ("message/global-delivery-status", "8bit")
    };
    let report = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            MimePart::new(ContentType::new("text/plain"), explanation(dsn)),
            MimePart::new(ContentType::new(status_type), status.into_bytes())
                .transfer_encoding(status_encoding),
            returned,
        ],
    );
    let daemon = format!("MAILER-DAEMON@{}", dsn.reporting_mta);
    MessageBuilder::new()
        .from(("Mail Delivery System", daemon.as_str()))
        .to(dsn.to)
        .subject(subject)
        .date(dsn.now)
        .message_id(format!("{}@{}", dsn.id, dsn.reporting_mta))
        // RFC 3834 §5: automatic replies must not answer this.
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(report)
        .write_to_vec()
        // Writing into a Vec cannot fail.
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, PartKind};

    fn recipient(action: DsnAction) -> DsnRecipient {
        DsnRecipient {
            address: "bob@remote.example".into(),
            original: Some("rfc822;Bob@Remote.Example".into()),
            action,
            status: "5.1.1".into(),
            remote_mta: Some("mx.remote.example".into()),
            diagnostic: Some("550 5.1.1 <bob@remote.example>: no such user\r\nInjected: x".into()),
            last_attempt: 1_764_500_000,
        }
    }

    fn dsn<'a>(recipients: &'a [DsnRecipient], original: &'a [u8], ret: ReturnContent) -> Dsn<'a> {
        Dsn {
            reporting_mta: "mx.tern.test",
            to: "alice@tern.test",
            envid: Some("QQ314159"),
            arrival: 1_764_400_000,
            recipients,
            original,
            ret,
            now: 1_764_500_100,
            id: "dsn-1",
        }
    }

    const ORIGINAL: &[u8] =
        b"Received: from x\r\nFrom: alice@tern.test\r\nSubject: lunch\r\n\r\nsee you at noon\r\n";

    #[test]
    fn a_failure_report_parses_as_rfc3464_says() {
        let recipients = [recipient(DsnAction::Failed)];
        let bytes = build(&dsn(&recipients, ORIGINAL, ReturnContent::Headers));
        let message = MessageParser::new().parse(&bytes).expect("parses");
        assert_eq!(
            message.root().subject(),
            Some("Undelivered Mail Returned to Sender")
        );
        let root = message.root().root_part();
        let ct = root.content_type().expect("content type");
        assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        let parts: Vec<_> = root.children().collect();
        assert_eq!(parts.len(), 3);
        let status = String::from_utf8_lossy(parts[1].raw_body()).into_owned();
        for field in [
            "Reporting-MTA: dns; mx.tern.test",
            "Original-Envelope-Id: QQ314159",
            "Original-Recipient: rfc822;Bob@Remote.Example",
            "Final-Recipient: rfc822; bob@remote.example",
            "Action: failed",
            "Status: 5.1.1",
            "Remote-MTA: dns; mx.remote.example",
            "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.example>: no such user",
        ] {
            assert!(status.contains(field), "{field} missing from\n{status}");
        }
        // A reply from the network cannot add a field.
        assert!(!status.contains("\r\nInjected:"), "{status}");
        let returned = parts[2].content_type().expect("third part type");
        assert_eq!(
            (returned.ctype(), returned.subtype()),
            ("text", Some("rfc822-headers"))
        );
        assert!(parts[2].raw_body().starts_with(b"Received: from x\r\n"));
        assert!(!String::from_utf8_lossy(parts[2].raw_body()).contains("noon"));
        let headers = String::from_utf8_lossy(root.raw_headers()).into_owned();
        assert!(
            headers.contains("Auto-Submitted: auto-replied"),
            "{headers}"
        );
        assert!(headers.contains("MAILER-DAEMON@mx.tern.test"), "{headers}");
    }

    #[test]
    fn ret_full_returns_the_message_when_it_is_small_enough() {
        let recipients = [recipient(DsnAction::Failed)];
        let bytes = build(&dsn(
            &recipients,
            ORIGINAL,
            ReturnContent::Full { max: 1000 },
        ));
        let message = MessageParser::new().parse(&bytes).expect("parses");
        let parts: Vec<_> = message.root().root_part().children().collect();
        assert!(matches!(parts[2].kind(), PartKind::Message(_)));
        assert!(String::from_utf8_lossy(parts[2].raw_body()).contains("see you at noon"));
        let small = build(&dsn(&recipients, ORIGINAL, ReturnContent::Full { max: 10 }));
        let message = MessageParser::new().parse(&small).expect("parses");
        let parts: Vec<_> = message.root().root_part().children().collect();
        assert!(!String::from_utf8_lossy(parts[2].raw_body()).contains("noon"));
    }

    #[test]
    fn long_and_utf8_replies_stay_within_the_rules() {
        let mut r = recipient(DsnAction::Failed);
        r.address = "jörg@bücher.example".into();
        r.diagnostic = Some("550 ".to_string() + &"x".repeat(5000));
        let recipients = [r];
        let bytes = build(&dsn(&recipients, ORIGINAL, ReturnContent::Headers));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("message/global-delivery-status"), "{text}");
        assert!(
            text.lines().all(|l| l.len() <= 998),
            "a line over 998 octets"
        );
    }

    #[test]
    fn a_delay_warning_says_it_is_still_trying() {
        let recipients = [recipient(DsnAction::Delayed)];
        let bytes = build(&dsn(&recipients, ORIGINAL, ReturnContent::Headers));
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("Subject: Delayed Mail (still being retried)"),
            "{text}"
        );
        assert!(text.contains("Action: delayed"), "{text}");
    }
}
