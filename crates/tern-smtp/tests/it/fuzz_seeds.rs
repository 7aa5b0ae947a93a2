//! The fuzz target's committed seed corpus (`fuzz/corpus/smtp_receive`), replayed through
//! the same entry point on every test run (see `tern_testkit::fuzz_seeds`).

#[test]
fn fuzz_seed_corpus_passes_the_smtp_receiver() {
    let seeds = tern_testkit::fuzz_seeds("smtp_receive");
    assert!(seeds.len() >= 5, "only {} seeds", seeds.len());
    for (path, input) in seeds {
        assert!(
            tern_smtp::fuzzing::receive(&input) > 0,
            "{}: no command line got through",
            path.display()
        );
    }
}
