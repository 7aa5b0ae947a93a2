//! Envelope addresses as smtp-proto gives them (source route removed, quotes removed) turned
//! into what the session decides on.

use tern_types::{is_address_literal, quote_local_part, Address, Domain, LocalPart};

/// A forward-path (RCPT TO) after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ForwardPath {
    /// A local part that could name an account, at a syntactically valid domain.
    Mailbox(Address),
    /// A valid domain with a local part no account can have (quoted, containing '@', ...).
    /// Never relayed: refused as unknown if the domain is ours, as relaying otherwise.
    Unusable { domain: Domain },
    /// `<Postmaster>` without a domain (RFC 5321 §4.5.1: must be accepted).
    Postmaster,
}

/// Why an address was refused outright.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathError {
    /// Not `local@domain` with a valid domain.
    Syntax,
    /// UTF-8 without the SMTPUTF8 parameter (RFC 6531 §3.4).
    NeedsSmtpUtf8,
}

pub(crate) fn forward_path(text: &str, smtputf8: bool) -> Result<ForwardPath, PathError> {
    if text.is_empty() {
        // smtp-proto turns `<Postmaster>` into an empty address.
        return Ok(ForwardPath::Postmaster);
    }
    if !text.is_ascii() && !smtputf8 {
        return Err(PathError::NeedsSmtpUtf8);
    }
    let (local, domain) = text.rsplit_once('@').ok_or(PathError::Syntax)?;
    let domain = Domain::parse(domain).map_err(|_| PathError::Syntax)?;
    match LocalPart::parse(local) {
        Ok(local) => Ok(ForwardPath::Mailbox(Address::new(local, domain))),
        Err(_) => Ok(ForwardPath::Unusable { domain }),
    }
}

/// What MAIL FROM named, as smtp-proto gives it plus what only the raw line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReversePathText<'a> {
    /// `local@domain`, quotes and backslashes removed by smtp-proto (or "" for `<>`).
    Parsed(&'a str),
    /// `<Postmaster>` (any case), which smtp-proto also reads as "".
    Postmaster,
}

/// Checks a reverse-path (MAIL FROM) and gives it in its RFC 5321 form, without the angle
/// brackets: "" for the null sender, `local@domain` with the local part quoted when it is not
/// a Dot-string (RFC 5321 §4.1.2), so that Return-Path, the queue and later DSNs all name the
/// sender's real mailbox. Only its shape is checked: the sender of a bounce or of mail from
/// another system need not be an account here.
pub(crate) fn reverse_path(text: ReversePathText<'_>, smtputf8: bool) -> Result<String, PathError> {
    let text = match text {
        // Deviation: RFC 5321 §4.1.1.2 gives MAIL only a mailbox or `<>`; `<Postmaster>` is
        // taken as the sender it names (RFC 5321 §4.5.1's local postmaster of the client),
        // because reading it as the null sender would make its mail look like a bounce.
        ReversePathText::Postmaster => return Ok("Postmaster".to_string()),
        ReversePathText::Parsed("") => return Ok(String::new()),
        ReversePathText::Parsed(text) => text,
    };
    if !text.is_ascii() && !smtputf8 {
        return Err(PathError::NeedsSmtpUtf8);
    }
    // A quoted local part may hold '@'; a domain cannot, so the last one separates them.
    let (local, domain) = text.rsplit_once('@').ok_or(PathError::Syntax)?;
    if local.is_empty() || local.len() > 64 {
        return Err(PathError::Syntax);
    }
    let local = quote_local_part(local).ok_or(PathError::Syntax)?;
    if !is_address_literal(domain) {
        Domain::parse(domain).map_err(|_| PathError::Syntax)?;
    }
    Ok(format!("{local}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_paths() {
        assert!(matches!(
            forward_path("alice@example.org", false),
            Ok(ForwardPath::Mailbox(_))
        ));
        assert_eq!(forward_path("", false), Ok(ForwardPath::Postmaster));
        assert!(matches!(
            forward_path("user@other@example.org", false),
            Ok(ForwardPath::Unusable { .. })
        ));
        assert!(matches!(
            forward_path("us er@example.org", false),
            Ok(ForwardPath::Unusable { .. })
        ));
        assert!(matches!(
            forward_path("user%other@example.org", false),
            Ok(ForwardPath::Mailbox(_))
        ));
        assert_eq!(forward_path("nodomain", false), Err(PathError::Syntax));
        assert_eq!(forward_path("a@bad_domain", false), Err(PathError::Syntax));
        assert_eq!(
            forward_path("élodie@example.org", false),
            Err(PathError::NeedsSmtpUtf8)
        );
        assert!(matches!(
            forward_path("élodie@example.org", true),
            Ok(ForwardPath::Mailbox(_))
        ));
    }

    #[test]
    fn reverse_paths() {
        let path = |text| reverse_path(ReversePathText::Parsed(text), false);
        assert_eq!(path(""), Ok(String::new()));
        assert_eq!(
            reverse_path(ReversePathText::Postmaster, false),
            Ok("Postmaster".into())
        );
        assert_eq!(path("bounce@[192.0.2.1]"), Ok("bounce@[192.0.2.1]".into()));
        assert_eq!(path("a@b.org"), Ok("a@b.org".into()));
        // smtp-proto's reading of `"a> b;c"@y.test` and of `"x\"y"@y.test`.
        assert_eq!(path("a> b;c@y.test"), Ok("\"a> b;c\"@y.test".into()));
        assert_eq!(path("a@b@y.test"), Ok("\"a@b\"@y.test".into()));
        assert_eq!(path("x\"y@y.test"), Ok("\"x\\\"y\"@y.test".into()));
        assert_eq!(path("a"), Err(PathError::Syntax));
        assert_eq!(path("a@b_c"), Err(PathError::Syntax));
        assert_eq!(path("a@[evil;by x]"), Err(PathError::Syntax));
        assert_eq!(path("a\tb@y.test"), Err(PathError::Syntax));
        assert_eq!(path("é@y.test"), Err(PathError::NeedsSmtpUtf8));
    }
}
