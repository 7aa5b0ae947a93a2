//! Envelope addresses as smtp-proto gives them (source route removed, quotes removed) turned
//! into what the session decides on.

use tern_types::{Address, Domain, LocalPart};

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

/// Checks a reverse-path (MAIL FROM). Empty is the null sender. Only its shape is checked:
/// the sender of a bounce or of mail from another system need not be an account here.
pub(crate) fn reverse_path(text: &str, smtputf8: bool) -> Result<(), PathError> {
    if text.is_empty() {
        return Ok(());
    }
    if !text.is_ascii() && !smtputf8 {
        return Err(PathError::NeedsSmtpUtf8);
    }
    let (local, domain) = text.rsplit_once('@').ok_or(PathError::Syntax)?;
    if local.is_empty() || local.len() > 64 || local.chars().any(char::is_control) {
        return Err(PathError::Syntax);
    }
    if domain.starts_with('[') && domain.ends_with(']') {
        // RFC 5321 §4.1.3 address literal, such as [192.0.2.1].
        return Ok(());
    }
    Domain::parse(domain)
        .map(|_| ())
        .map_err(|_| PathError::Syntax)
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
        assert_eq!(reverse_path("", false), Ok(()));
        assert_eq!(reverse_path("bounce@[192.0.2.1]", false), Ok(()));
        assert_eq!(reverse_path("a@b.org", false), Ok(()));
        assert_eq!(reverse_path("a", false), Err(PathError::Syntax));
        assert_eq!(reverse_path("a@b_c", false), Err(PathError::Syntax));
    }
}
