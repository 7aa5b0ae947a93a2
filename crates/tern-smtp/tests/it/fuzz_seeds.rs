//! The fuzz target's committed seed corpus (`fuzz/corpus/smtp_receive`), replayed through
//! the same entry point on every test run: CI checks the targets' inputs and invariants
//! without the nightly toolchain cargo-fuzz needs.

#[test]
fn fuzz_seed_corpus_passes_the_smtp_receiver() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/smtp_receive"
    );
    let mut seeds = 0;
    for entry in std::fs::read_dir(dir).expect("the seed corpus is in the repository") {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        let commands = tern_smtp::fuzzing::receive(&input);
        assert!(
            commands > 0,
            "{}: no command line got through",
            path.display()
        );
        seeds += 1;
    }
    assert!(seeds >= 5, "only {seeds} seeds in {dir}");
}
