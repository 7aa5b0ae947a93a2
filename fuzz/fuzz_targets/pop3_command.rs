//! POP3 command lines from the network through the command parser
//! (`tern_pop3::fuzzing::parse_lines`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    tern_pop3::fuzzing::parse_lines(input);
});
