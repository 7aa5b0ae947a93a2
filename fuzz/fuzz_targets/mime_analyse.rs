//! Any bytes as a stored message through the message layer's analysis
//! (`tern_message::mime::fuzzing::analyse_checked`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    tern_message::mime::fuzzing::analyse_checked(input);
});
