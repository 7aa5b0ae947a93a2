//! POP3 command lines (RFC 1939 §3, RFC 2449, RFC 2595, RFC 5034) to typed commands.
//!
//! Keywords are case-insensitive; arguments are separated by one space. PASS takes the rest
//! of the line, spaces included (RFC 1939 §7 allows it), so passwords with spaces work.

use tern_auth::Secret;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    User(String),
    Pass(Secret),
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
    Apop,
    Capa,
    Stls,
    Stat,
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    Quit,
    Top {
        message: u32,
        lines: u32,
    },
    Uidl(Option<u32>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    Unknown,
    /// The usage to show the client.
    Syntax(&'static str),
}

fn number(arg: &str) -> Option<u32> {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    arg.parse().ok()
}

/// Parses one line without its line end.
pub(crate) fn parse(line: &str) -> Result<Command, ParseError> {
    let (keyword, rest) = match line.split_once(' ') {
        Some((k, r)) => (k, Some(r)),
        None => (line, None),
    };
    let args: Vec<&str> = rest.map(|r| r.split(' ').collect()).unwrap_or_default();
    let keyword = keyword.to_ascii_uppercase();
    let none = |cmd: Command, usage| {
        if rest.is_none() {
            Ok(cmd)
        } else {
            Err(ParseError::Syntax(usage))
        }
    };
    let one_number = |usage| match args.as_slice() {
        [n] => number(n).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    };
    let optional_number = |usage| match args.as_slice() {
        [] => Ok(None),
        [n] => number(n).map(Some).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    };
    match keyword.as_str() {
        "USER" => match rest {
            Some(name) if !name.is_empty() && !name.contains(' ') => {
                Ok(Command::User(name.to_string()))
            }
            _ => Err(ParseError::Syntax("USER name")),
        },
        "PASS" => match rest {
            Some(pw) if !pw.is_empty() => Ok(Command::Pass(Secret::new(pw))),
            _ => Err(ParseError::Syntax("PASS password")),
        },
        "AUTH" => match args.as_slice() {
            [] if rest.is_none() => Ok(Command::Auth {
                mechanism: String::new(),
                initial: None,
            }),
            [m] if !m.is_empty() => Ok(Command::Auth {
                mechanism: m.to_ascii_uppercase(),
                initial: None,
            }),
            [m, initial] if !m.is_empty() && !initial.is_empty() => Ok(Command::Auth {
                mechanism: m.to_ascii_uppercase(),
                initial: Some(initial.to_string()),
            }),
            _ => Err(ParseError::Syntax("AUTH mechanism [initial-response]")),
        },
        "APOP" => Ok(Command::Apop),
        "CAPA" => none(Command::Capa, "CAPA"),
        "STLS" => none(Command::Stls, "STLS"),
        "STAT" => none(Command::Stat, "STAT"),
        "NOOP" => none(Command::Noop, "NOOP"),
        "RSET" => none(Command::Rset, "RSET"),
        "QUIT" => none(Command::Quit, "QUIT"),
        "LIST" => optional_number("LIST [msg]").map(Command::List),
        "UIDL" => optional_number("UIDL [msg]").map(Command::Uidl),
        "RETR" => one_number("RETR msg").map(Command::Retr),
        "DELE" => one_number("DELE msg").map(Command::Dele),
        "TOP" => match args.as_slice() {
            [m, n] => match (number(m), number(n)) {
                (Some(message), Some(lines)) => Ok(Command::Top { message, lines }),
                _ => Err(ParseError::Syntax("TOP msg lines")),
            },
            _ => Err(ParseError::Syntax("TOP msg lines")),
        },
        _ => Err(ParseError::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            parse("user alice@example.org"),
            Ok(Command::User("alice@example.org".into()))
        );
        assert_eq!(
            parse("PASS with spaces  inside"),
            Ok(Command::Pass(Secret::new("with spaces  inside")))
        );
        assert_eq!(parse("LIST"), Ok(Command::List(None)));
        assert_eq!(parse("list 3"), Ok(Command::List(Some(3))));
        assert_eq!(
            parse("TOP 1 10"),
            Ok(Command::Top {
                message: 1,
                lines: 10
            })
        );
        assert_eq!(
            parse("AUTH plain AGFsaWNlAHB3"),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGFsaWNlAHB3".into())
            })
        );
        assert_eq!(parse("capa"), Ok(Command::Capa));
    }

    /// Whatever arrives, the parser answers; it never panics. Seeded, so a failure repeats.
    #[test]
    fn arbitrary_lines_never_panic() {
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let alphabet: Vec<char> =
            "RETRDELETOPUSERPASSAUTHLISTUIDL 0123456789+-.*=\t\u{0}\u{7f}éß€\u{10ffff}"
                .chars()
                .collect();
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let line: String = (0..len)
                .map(|i| alphabet[((seed >> (i % 48)) as usize + i * 7) % alphabet.len()])
                .collect();
            let _ = parse(&line);
        }
    }

    #[test]
    fn malformed() {
        assert_eq!(parse("RETR"), Err(ParseError::Syntax("RETR msg")));
        assert_eq!(parse("RETR x"), Err(ParseError::Syntax("RETR msg")));
        assert_eq!(parse("RETR +1"), Err(ParseError::Syntax("RETR msg")));
        assert_eq!(
            parse("RETR 99999999999"),
            Err(ParseError::Syntax("RETR msg"))
        );
        assert_eq!(parse("DELE 1 2"), Err(ParseError::Syntax("DELE msg")));
        assert_eq!(parse("STAT now"), Err(ParseError::Syntax("STAT")));
        assert_eq!(parse("USER"), Err(ParseError::Syntax("USER name")));
        assert_eq!(parse("XYZZY"), Err(ParseError::Unknown));
        assert_eq!(parse(""), Err(ParseError::Unknown));
    }
}
