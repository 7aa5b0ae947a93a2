//! External test clients: a missing one fails the test with the install line.

#[tokio::test]
#[should_panic(expected = "is not installed. `./scripts/test` installs every program")]
async fn a_missing_client_fails_with_the_install_line() {
    let command = std::process::Command::new("tern-test-client-that-is-not-installed");
    tern_testkit::run_client(command, "a client that is not installed").await;
}

#[tokio::test]
#[should_panic(expected = "apt-get install fetchmail")]
async fn a_missing_fetchmail_names_its_package() {
    // Found nowhere on this PATH, whatever is installed.
    let mut command = std::process::Command::new("fetchmail");
    command.env("PATH", "/nonexistent");
    tern_testkit::run_client(command, "fetchmail").await;
}
