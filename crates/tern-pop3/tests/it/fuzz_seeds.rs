//! The fuzz target's committed seed corpus (`fuzz/corpus/pop3_command`), replayed through
//! the same entry point on every test run: CI checks the targets' inputs and invariants
//! without the nightly toolchain cargo-fuzz needs.

#[test]
fn fuzz_seed_corpus_passes_the_pop3_parser() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/pop3_command"
    );
    let mut seeds = 0;
    for entry in std::fs::read_dir(dir).expect("the seed corpus is in the repository") {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        let commands = tern_pop3::fuzzing::parse_lines(&input);
        assert!(
            commands > 0,
            "{}: no line parsed as a command",
            path.display()
        );
        seeds += 1;
    }
    assert!(seeds >= 3, "only {seeds} seeds in {dir}");
}
