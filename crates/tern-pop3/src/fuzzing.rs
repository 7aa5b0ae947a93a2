//! The entry point of the fuzz target in `fuzz/` (and of the test that replays its seed
//! corpus): the command parser. Not an API.

use crate::proto::parse;

/// Splits `input` into lines as the connection does (LF-terminated, a CR before the LF
/// dropped, only UTF-8 reaches the parser) and parses each. Checks that a keyword's case
/// does not matter (RFC 1939 §3). Returns how many lines were commands.
pub fn parse_lines(input: &[u8]) -> usize {
    let mut commands = 0;
    for raw in input.split(|&b| b == b'\n') {
        let text = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(text) else {
            continue;
        };
        let parsed = parse(line);
        let (keyword, rest) = line.split_at(line.find(' ').unwrap_or(line.len()));
        let shouted = format!("{}{rest}", keyword.to_ascii_uppercase());
        assert_eq!(parse(&shouted), parsed, "{line:?}");
        commands += usize::from(parsed.is_ok());
    }
    commands
}
