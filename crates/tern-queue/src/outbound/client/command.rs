//! The MAIL and RCPT command lines, with their extension parameters, and RFC 3461's xtext.

use std::fmt::Write;

use super::{AttemptError, Envelope, OutRecipient};

/// Which MAIL parameters the server's extensions allow.
pub(super) struct MailOptions {
    /// RFC 1870 §6: SIZE=n, the message's size in octets.
    pub size: Option<usize>,
    /// RFC 6152 §2: BODY=8BITMIME.
    pub eight_bit: bool,
    /// RFC 3461 §4: RET, ENVID, NOTIFY and ORCPT only when the server offered DSN.
    pub dsn: bool,
}

/// Refuses an envelope that would break a command line: a CR, LF or other control character
/// in an address or a parameter would let it inject commands. Addresses were parsed at
/// submission, so this is a last guard, not a parser.
pub(super) fn check_envelope(envelope: &Envelope<'_>) -> Result<(), AttemptError> {
    let unsafe_text = |s: &str| s.chars().any(char::is_control);
    if unsafe_text(envelope.sender) {
        return Err(AttemptError::local([5, 1, 7], "unusable sender address"));
    }
    for r in envelope.recipients {
        if r.address.is_empty() || unsafe_text(&r.address) {
            return Err(AttemptError::local([5, 1, 3], "unusable recipient address"));
        }
    }
    Ok(())
}

/// `MAIL FROM:<sender> [SIZE=n] [BODY=8BITMIME] [SMTPUTF8] [RET=..] [ENVID=..]`.
pub(super) fn mail_from(envelope: &Envelope<'_>, options: MailOptions) -> String {
    let mut line = format!("MAIL FROM:<{}>", envelope.sender);
    if let Some(size) = options.size {
        let _ = write!(line, " SIZE={size}");
    }
    if options.eight_bit {
        line.push_str(" BODY=8BITMIME");
    }
    // RFC 6531 §3.4: the caller checked that the server offers it.
    if envelope.smtputf8 {
        line.push_str(" SMTPUTF8");
    }
    if options.dsn {
        // RFC 3461 §4.3: RET is FULL or HDRS; anything else is left out, not sent.
        if let Some(ret) = envelope
            .ret
            .filter(|r| r.eq_ignore_ascii_case("FULL") || r.eq_ignore_ascii_case("HDRS"))
        {
            let _ = write!(line, " RET={}", ret.to_ascii_uppercase());
        }
        // RFC 3461 §4.4: ENVID is xtext.
        if let Some(envid) = envelope.envid.filter(|e| !e.is_empty()) {
            let _ = write!(line, " ENVID={}", xtext(envid));
        }
    }
    line.push_str("\r\n");
    line
}

/// `RCPT TO:<address> [NOTIFY=..] [ORCPT=rfc822;..]`.
pub(super) fn rcpt_to(recipient: &OutRecipient, dsn: bool) -> String {
    let mut line = format!("RCPT TO:<{}>", recipient.address);
    if dsn {
        // RFC 3461 §4.1: NEVER, or a comma list of SUCCESS, FAILURE, DELAY.
        if let Some(notify) = recipient.notify.as_deref().filter(|n| is_notify(n)) {
            let _ = write!(line, " NOTIFY={}", notify.to_ascii_uppercase());
        }
        if let Some(orcpt) = recipient.orcpt.as_deref() {
            // RFC 3461 §4.2: ORCPT=addr-type;xtext. What is stored is the decoded address
            // (smtp-proto decodes xtext when it parses RCPT), so it is always encoded here;
            // an `rfc822;` prefix, if present, is not part of the address. smtp-proto accepts
            // no addr-type but rfc822, so none other can reach this point.
            let address = orcpt
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case("rfc822;"))
                .map_or(orcpt, |_| &orcpt[7..]);
            if !address.is_empty() {
                let _ = write!(line, " ORCPT=rfc822;{}", xtext(address));
            }
        }
    }
    line.push_str("\r\n");
    line
}

fn is_notify(value: &str) -> bool {
    value.eq_ignore_ascii_case("NEVER")
        || value.split(',').all(|v| {
            ["SUCCESS", "FAILURE", "DELAY"]
                .iter()
                .any(|k| v.eq_ignore_ascii_case(k))
        })
}

/// RFC 3461 §4: xtext. Octets from "!" to "~" stand for themselves, except "+" and "=";
/// every other octet (UTF-8 ones included) is "+" and two upper-case hex digits.
pub(super) fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "+{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope<'a>(recipients: &'a [OutRecipient]) -> Envelope<'a> {
        Envelope {
            sender: "a@a.test",
            recipients,
            envid: Some("id+1 x=y"),
            ret: Some("hdrs"),
            smtputf8: false,
            eight_bit: true,
        }
    }

    #[test]
    fn xtext_encodes_plus_equals_space_and_non_ascii() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("bob@example.org"), "bob@example.org");
        assert_eq!(xtext("é"), "+C3+A9");
    }

    #[test]
    fn mail_parameters_follow_the_extensions() {
        let env = envelope(&[]);
        let all = MailOptions {
            size: Some(42),
            eight_bit: true,
            dsn: true,
        };
        assert_eq!(
            mail_from(&env, all),
            "MAIL FROM:<a@a.test> SIZE=42 BODY=8BITMIME RET=HDRS ENVID=id+2B1+20x+3Dy\r\n"
        );
        let none = MailOptions {
            size: None,
            eight_bit: false,
            dsn: false,
        };
        assert_eq!(mail_from(&env, none), "MAIL FROM:<a@a.test>\r\n");
    }

    #[test]
    fn rcpt_parameters_only_with_dsn() {
        let r = OutRecipient {
            address: "b@b.test".into(),
            notify: Some("success,failure".into()),
            orcpt: Some("rfc822;b+x@b.test".into()),
        };
        assert_eq!(
            rcpt_to(&r, true),
            "RCPT TO:<b@b.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@b.test\r\n"
        );
        assert_eq!(rcpt_to(&r, false), "RCPT TO:<b@b.test>\r\n");
        let bare = OutRecipient {
            orcpt: Some("B@B.test".into()),
            notify: Some("SUCCESS\r\nRSET".into()),
            ..r
        };
        assert_eq!(
            rcpt_to(&bare, true),
            "RCPT TO:<b@b.test> ORCPT=rfc822;B@B.test\r\n"
        );
    }

    #[test]
    fn line_breaks_in_addresses_are_refused() {
        let r = [OutRecipient {
            address: "b@b.test\r\nRSET".into(),
            notify: None,
            orcpt: None,
        }];
        let err = check_envelope(&envelope(&r)).unwrap_err();
        assert!(matches!(
            err,
            AttemptError::Session {
                permanent: true,
                ..
            }
        ));
    }
}
