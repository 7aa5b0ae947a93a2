//! Gathering the readable text of a message for the search index and the preview, within the
//! decoded-size budget.

use mail_parser::MessagePart;

use super::SearchText;

/// Characters of the preview (clients show a line or two; JMAP's preview is 256).
pub(crate) const PREVIEW_CHARS: usize = 256;

pub(crate) struct TextCollector {
    /// Gather the search text; without it, only the preview.
    pub(crate) search: bool,
    body: String,
    preview: String,
    /// The preview is taken from the first part with text only (not from both versions of
    /// a multipart/alternative).
    preview_done: bool,
    budget: usize,
}

impl TextCollector {
    pub(crate) fn new(budget: usize, search: bool) -> Self {
        TextCollector {
            search,
            body: String::new(),
            preview: String::new(),
            preview_done: false,
            budget,
        }
    }

    fn remaining(&self) -> usize {
        self.budget.saturating_sub(self.body.len())
    }

    /// Takes a text or HTML part: the preview from its first characters (when it has none
    /// yet), and, when gathering search text, the part transfer-decoded and converted to UTF-8
    /// (HTML reduced to text), no more than the budget allows.
    pub(crate) fn push_part(&mut self, part: &MessagePart<'_>, html: bool) {
        if !self.preview_done {
            // Enough characters that collapsing white space still fills the preview.
            let prefix = if html {
                part.text_prefix(PREVIEW_CHARS * 16)
                    .map(|t| mail_parser::html_to_text(&t))
            } else {
                part.text_prefix(PREVIEW_CHARS * 4).map(|t| t.into_owned())
            };
            if let Some(text) = prefix {
                self.push_preview(&text);
            }
        }
        if !self.search {
            return;
        }
        let remaining = self.remaining();
        if remaining == 0 {
            return;
        }
        let Some(text) = part.text_prefix_bytes(remaining) else {
            return;
        };
        if html {
            self.push_name(&mail_parser::html_to_text(&text));
        } else {
            self.push_name(&text);
        }
    }

    /// Text of a message (or multipart) without MIME structure, read as UTF-8, lossily.
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        if !self.preview_done {
            let head = &bytes[..bytes.len().min(PREVIEW_CHARS * 4)];
            self.push_preview(&String::from_utf8_lossy(head));
        }
        if !self.search {
            return;
        }
        let take = bytes.len().min(self.remaining());
        let text = String::from_utf8_lossy(&bytes[..take]).into_owned();
        self.push_name(&text);
    }

    fn push_preview(&mut self, text: &str) {
        self.preview_done = !text.trim().is_empty();
        for word in text.split_whitespace() {
            if !self.preview.is_empty() {
                self.preview.push(' ');
            }
            self.preview.push_str(word);
            if self.preview.chars().count() >= PREVIEW_CHARS {
                break;
            }
        }
    }

    /// Appends a name (an attachment's, a nested message's subject): searchable, not shown.
    pub(crate) fn push_name(&mut self, name: &str) {
        if name.is_empty() || !self.search {
            return;
        }
        let room = self.remaining();
        if room == 0 {
            return;
        }
        let end = if name.len() <= room {
            name.len()
        } else {
            floor_boundary(name, room)
        };
        if !self.body.is_empty() {
            self.body.push('\n');
        }
        self.body.push_str(&name[..end]);
    }

    pub(crate) fn preview(&self) -> String {
        match self.preview.char_indices().nth(PREVIEW_CHARS) {
            Some((at, _)) => self.preview[..at].to_string(),
            None => self.preview.clone(),
        }
    }

    /// Moves the body text into `out` and lower-cases every field (the index and the queries
    /// compare lower-case text, so search is case-insensitive, RFC 9051 §6.4.4).
    pub(crate) fn finish_into(&mut self, out: &mut SearchText) {
        out.body = std::mem::take(&mut self.body);
        for field in [
            &mut out.subject,
            &mut out.from,
            &mut out.to,
            &mut out.cc,
            &mut out.bcc,
            &mut out.headers,
            &mut out.body,
        ] {
            *field = fold_case(field);
        }
    }
}

/// The case folding search uses on both sides: indexed text and query terms.
pub fn fold_case(text: &str) -> String {
    text.to_lowercase()
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}
