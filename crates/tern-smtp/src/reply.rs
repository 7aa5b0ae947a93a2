//! SMTP replies: a code, an enhanced status code (RFC 2034, RFC 3463) and text.

use std::fmt::Write;

/// One reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    /// RFC 2034 §3: on every reply except the greeting and the EHLO response.
    pub(crate) status: Option<&'static str>,
    pub(crate) lines: Vec<String>,
}

impl Reply {
    pub(crate) fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Self {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced status code (greeting, EHLO).
    pub(crate) fn plain(code: u16, lines: Vec<String>) -> Self {
        Self {
            code,
            status: None,
            lines,
        }
    }

    pub(crate) fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// RFC 5321 §4.2.1: every line but the last has a hyphen after the code.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        let mut text = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let _ = match self.status {
                Some(status) => write!(text, "{}{sep}{status} {line}\r\n", self.code),
                None => write!(text, "{}{sep}{line}\r\n", self.code),
            };
        }
        if self.lines.is_empty() {
            let _ = write!(text, "{}\r\n", self.code);
        }
        out.extend_from_slice(text.as_bytes());
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(
                f,
                "{} {s} {}",
                self.code,
                self.lines.last().map_or("", String::as_str)
            ),
            None => write!(
                f,
                "{} {}",
                self.code,
                self.lines.last().map_or("", String::as_str)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line() {
        let mut out = Vec::new();
        Reply::new(250, "2.1.0", "Sender OK").write_to(&mut out);
        assert_eq!(out, b"250 2.1.0 Sender OK\r\n");
        out.clear();
        Reply::plain(
            250,
            vec!["mx.test".into(), "PIPELINING".into(), "SIZE 10".into()],
        )
        .write_to(&mut out);
        assert_eq!(out, b"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    }
}
