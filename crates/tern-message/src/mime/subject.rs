//! RFC 5256 §2.1: the base subject, which SORT SUBJECT and THREAD=ORDEREDSUBJECT compare.
//! (mail-parser's `thread_name` is a different, multilingual heuristic.)

/// The base subject of an already decoded Subject (RFC 5256 §2.1 step 1's decoding done).
pub fn base_subject(subject: &str) -> String {
    // Step 1: white space (tabs, folding) becomes one space; runs collapse.
    let mut s = String::with_capacity(subject.len());
    for word in subject.split_whitespace() {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(word);
    }
    loop {
        // Step 2: remove subj-trailer ("(fwd)" or white space) repeatedly.
        loop {
            let before = s.len();
            s.truncate(s.trim_end().len());
            if ends_with_ignore_case(&s, "(fwd)") {
                s.truncate(s.len() - 5);
            }
            if s.len() == before {
                break;
            }
        }
        // Steps 3-5: remove subj-leader and leading subj-blob until nothing changes.
        loop {
            let before = s.len();
            let mut rest = s.trim_start();
            if let Some(after) = strip_refwd_leader(rest) {
                rest = after;
            }
            // Step 4: a leading subj-blob goes if something is left after it.
            if let Some(after) = strip_blob(rest) {
                if !after.trim().is_empty() {
                    rest = after;
                }
            }
            s = rest.to_string();
            if s.len() == before {
                break;
            }
        }
        // Step 6: "[fwd: ... ]" wrapping.
        if starts_with_ignore_case(&s, "[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
            continue;
        }
        return s;
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// subj-blob = "[" *BLOBCHAR "]" *WSP, BLOBCHAR being anything but "[" and "]".
fn strip_blob(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('[')?;
    let end = inner.find([']', '['])?;
    (inner.as_bytes()[end] == b']').then(|| inner[end + 1..].trim_start())
}

/// subj-leader = (*subj-blob subj-refwd): blobs, then "re", "fw" or "fwd", optional white
/// space and one blob, then ":".
fn strip_refwd_leader(s: &str) -> Option<&str> {
    let mut rest = s;
    while let Some(after) = strip_blob(rest) {
        rest = after;
    }
    let lower = rest.get(..3).unwrap_or(rest).to_ascii_lowercase();
    let word = if lower.starts_with("re") {
        2
    } else if lower.starts_with("fwd") {
        3
    } else if lower.starts_with("fw") {
        2
    } else {
        return None;
    };
    let mut rest = rest[word..].trim_start();
    if let Some(after) = strip_blob(rest) {
        rest = after;
    }
    rest.strip_prefix(':')
}

#[cfg(test)]
mod tests {
    use super::base_subject;

    #[test]
    fn rfc5256_examples_and_edge_cases() {
        let cases = [
            ("Re: hello", "hello"),
            ("RE: Re: re: hello", "hello"),
            ("Fwd: hello (fwd)", "hello"),
            ("[list] Re: [other] hello", "hello"),
            ("Re[2]: hello", "hello"),
            ("[Fwd: Re: hello]", "hello"),
            ("[only-a-blob]", "[only-a-blob]"),
            ("  spaced \t\r\n out  ", "spaced out"),
            ("Reply to this", "Reply to this"),
            ("", ""),
            ("Re:", ""),
            ("Fw: ärger", "ärger"),
        ];
        for (subject, base) in cases {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
    }
}
