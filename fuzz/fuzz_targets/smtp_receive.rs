//! SMTP from the network: command-line framing, smtp-proto's command parser, the DATA dot
//! receiver and BDAT counting (`tern_smtp::fuzzing::receive`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    tern_smtp::fuzzing::receive(input);
});
