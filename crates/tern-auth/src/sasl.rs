//! SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, base64-encoded on the wire;
//! and the LOGIN mechanism's fields (draft-murchison-sasl-login: user name, then password,
//! each base64 on its own line), which Outlook and older clients still use for submission.

use base64::Engine;

use crate::Secret;

/// RFC 4616 §2: each of the three fields is at most 255 octets.
const MAX_FIELD: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    pub username: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("the response is not valid base64")]
    Base64,
    #[error("the response is not authzid NUL authcid NUL password in UTF-8")]
    Malformed,
    #[error("acting as another user (an authorization identity) is not supported")]
    Authzid,
}

/// Decodes a base64 PLAIN response. An authorization identity other than the user's own is
/// refused: Tern has no administrators who log in as other users.
pub fn decode_plain(base64_text: &str) -> Result<PlainCredentials, SaslError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(base64_text.trim())
        .map_err(|_| SaslError::Base64)?;
    let mut fields = raw.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SaslError::Malformed);
    };
    if [authzid, authcid, password]
        .iter()
        .any(|f| f.len() > MAX_FIELD)
        || authcid.is_empty()
        || password.is_empty()
    {
        return Err(SaslError::Malformed);
    }
    let text = |f: &[u8]| String::from_utf8(f.to_vec()).map_err(|_| SaslError::Malformed);
    let (authzid, username) = (text(authzid)?, text(authcid)?);
    if !authzid.is_empty() && authzid != username {
        return Err(SaslError::Authzid);
    }
    Ok(PlainCredentials {
        username,
        password: Secret::new(text(password)?),
    })
}

/// Decodes one field of the LOGIN mechanism (the user name or the password): base64 of at
/// most 255 octets of UTF-8 without NUL, not empty.
pub fn decode_login_field(base64_text: &str) -> Result<String, SaslError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(base64_text.trim())
        .map_err(|_| SaslError::Base64)?;
    if raw.is_empty() || raw.len() > MAX_FIELD || raw.contains(&0) {
        return Err(SaslError::Malformed);
    }
    String::from_utf8(raw).map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(raw: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    #[test]
    fn plain_with_and_without_authzid() {
        let c = decode_plain(&b64(b"\0alice@example.org\0s3cret")).unwrap();
        assert_eq!(c.username, "alice@example.org");
        assert_eq!(c.password.expose(), "s3cret");
        let c = decode_plain(&b64(b"alice@example.org\0alice@example.org\0pw")).unwrap();
        assert_eq!(c.username, "alice@example.org");
    }

    #[test]
    fn login_fields() {
        assert_eq!(
            decode_login_field(&b64(b"alice@x.test")).unwrap(),
            "alice@x.test"
        );
        assert_eq!(decode_login_field("!!"), Err(SaslError::Base64));
        assert_eq!(decode_login_field(""), Err(SaslError::Malformed));
        assert_eq!(decode_login_field(&b64(b"a\0b")), Err(SaslError::Malformed));
        assert_eq!(
            decode_login_field(&b64(&[b'a'; 256])),
            Err(SaslError::Malformed)
        );
    }

    #[test]
    fn bad_responses() {
        assert_eq!(decode_plain("***"), Err(SaslError::Base64));
        assert_eq!(decode_plain(&b64(b"alice\0pw")), Err(SaslError::Malformed));
        assert_eq!(
            decode_plain(&b64(b"\0alice\0pw\0x")),
            Err(SaslError::Malformed)
        );
        assert_eq!(decode_plain(&b64(b"\0\0pw")), Err(SaslError::Malformed));
        assert_eq!(
            decode_plain(&b64(b"bob\0alice\0pw")),
            Err(SaslError::Authzid)
        );
        assert_eq!(
            decode_plain(&b64(&[b'\0', b'a', b'\0', 0xff])),
            Err(SaslError::Malformed)
        );
    }
}
