//! The `mime_analyse` fuzz target's committed seed corpus (`fuzz/corpus/mime_analyse`),
//! replayed through the same entry point on every test run (see `tern_testkit::fuzz_seeds`).

#[test]
fn fuzz_seed_corpus_keeps_the_mime_promises() {
    let seeds = tern_testkit::fuzz_seeds("mime_analyse");
    assert!(seeds.len() >= 20, "only {} seeds", seeds.len());
    for (_, input) in &seeds {
        tern_message::mime::fuzzing::analyse_checked(input);
        let mut odd = vec![1u8];
        odd.extend_from_slice(input);
        tern_message::mime::fuzzing::analyse_checked(&odd);
    }
}
