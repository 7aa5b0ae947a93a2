//! The fuzz target's committed seed corpus (`fuzz/corpus/pop3_command`), replayed through
//! the same entry point on every test run (see `tern_testkit::fuzz_seeds`).

#[test]
fn fuzz_seed_corpus_passes_the_pop3_parser() {
    let seeds = tern_testkit::fuzz_seeds("pop3_command");
    assert!(seeds.len() >= 3, "only {} seeds", seeds.len());
    for (path, input) in seeds {
        assert!(
            tern_pop3::fuzzing::parse_lines(&input) > 0,
            "{}: no line parsed as a command",
            path.display()
        );
    }
}
