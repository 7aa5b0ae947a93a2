//! Configuration: the example file, defaults, and one error per kind of mistake, each naming
//! the file and the key.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tern_config::{parse, Config, ConfigError, Protocol, Source};

const EXAMPLE: &str = include_str!("../../../../tern.example.toml");

fn err(text: &str) -> ConfigError {
    parse(text, Path::new("/etc/tern/tern.toml")).expect_err("should be refused")
}

fn assert_names(e: &ConfigError, key: &str) {
    let text = e.to_string();
    assert!(
        text.starts_with("/etc/tern/tern.toml"),
        "no file in: {text}"
    );
    assert_eq!(e.key(), Some(key), "wrong key in: {text}");
}

#[test]
fn example_file_is_valid_and_uses_standard_ports() {
    let config = parse(EXAMPLE, Path::new("/etc/tern/tern.toml")).unwrap();
    assert_eq!(config.hostname.as_str(), "mail.example.org");
    assert_eq!(config.data_dir, Path::new("/var/lib/tern"));
    for protocol in Protocol::ALL {
        let ports: Vec<u16> = config.listeners(protocol).map(|a| a.port()).collect();
        assert!(!ports.is_empty(), "{protocol} missing from the example");
        assert!(
            ports.iter().all(|p| *p == protocol.standard_port()),
            "{protocol}: {ports:?}"
        );
    }
    assert!(config.tls.is_some());
}

#[test]
fn example_file_documents_every_key() {
    let keys = [
        "hostname",
        "data_dir",
        "log_level",
        "postmaster",
        "[listen]",
        "smtp",
        "submission",
        "submissions",
        "imap",
        "imaps",
        "pop3",
        "pop3s",
        "[tls]",
        "cert",
        "key",
        "[store]",
        "backend",
        "inline_blob_max",
        "expunge_log_max",
        "[addresses]",
        "case_sensitive_local_part",
        "detail_separator",
        "[auth]",
        "argon2_memory_kib",
        "argon2_iterations",
        "argon2_parallelism",
        "[smtp]",
        "max_message_size",
        "max_recipients",
        "max_command_line",
        "max_text_line",
        "max_bad_commands",
        "idle_timeout",
        "data_timeout",
        "command_timeout",
        "shutdown_grace",
        "max_connections",
        "max_connections_per_ip",
        "greeting_delay_ms",
        "over_quota",
        "plaintext_without_tls",
        "max_failures_per_ip",
        "max_failures_per_account",
        "failure_window",
        "failure_delay_ms",
        "failure_delay_max_ms",
        "max_failures_per_network",
        "network_ipv4_prefix",
        "network_ipv6_prefix",
        "account_delay_ms",
        "[clients]",
        "ipv4_prefix",
        "ipv6_prefix",
        "[pop3]",
        "[submission]",
        "send_as_any",
        "[outbound]",
        "dns_servers",
        "remote_port",
        "retry_intervals",
        "max_age",
        "max_connections_per_domain",
        "connect_timeout",
        "delay_warning",
    ];
    for key in keys {
        let line = EXAMPLE
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")) || l.trim() == key)
            .unwrap_or_else(|| panic!("{key} is not set in tern.example.toml"));
        assert!(!line.is_empty());
    }
}

#[test]
fn empty_file_means_defaults_and_no_listeners() {
    let config = parse("", Path::new("/srv/tern/tern.toml")).unwrap();
    assert_eq!(config.hostname.as_str(), "localhost");
    assert_eq!(config.data_dir, Path::new("/srv/tern/tern-data"));
    assert!(config.listen.is_empty(), "a protocol left out is off");
    assert_eq!(config.store.inline_blob_max, 128 * 1024);
    assert_eq!(config.store.expunge_log_max, 10_000);
    assert_eq!(config.shutdown_grace, std::time::Duration::from_secs(10));
    assert_eq!(
        config.smtp.data_timeout,
        std::time::Duration::from_secs(600)
    );
    assert_eq!(
        config.pop3.command_timeout,
        std::time::Duration::from_secs(60)
    );
    assert_eq!(config.addresses.detail_separator, Some('+'));
}

#[test]
fn embedded_default_listens_on_loopback_development_ports() {
    let config = Config::embedded();
    assert_eq!(config.source, Source::Embedded);
    let smtp: Vec<SocketAddr> = config.listeners(Protocol::Smtp).collect();
    assert_eq!(smtp, ["127.0.0.1:2525".parse().unwrap()]);
    let all: Vec<u16> = Protocol::ALL
        .iter()
        .flat_map(|p| config.listeners(*p).map(|a| a.port()))
        .collect();
    assert_eq!(all, [2525, 2587, 2465, 2143, 2993, 2110, 2995]);
    assert_eq!(config.data_dir, Path::new("./tern-data"));
}

#[test]
fn unknown_top_level_key() {
    let e = err("hostnme = \"x.org\"\n");
    assert_names(&e, "hostnme");
    assert!(e.to_string().contains("unknown key"), "{e}");
    assert!(
        e.to_string().contains("hostname"),
        "should list valid keys: {e}"
    );
}

#[test]
fn unknown_nested_key() {
    let e = err("[listen]\nsmpt = [\"0.0.0.0:25\"]\n");
    assert_names(&e, "listen.smpt");
}

#[test]
fn wrong_type() {
    let e = err("[listen]\nsmtp = \"0.0.0.0:25\"\n");
    assert_names(&e, "listen.smtp");
}

#[test]
fn bad_listen_address() {
    let e = err("[listen]\nimap = [\"0.0.0.0:143\", \"localhost\"]\n");
    assert_names(&e, "listen.imap[1]");
    assert!(
        e.to_string().contains("0.0.0.0:143"),
        "should show a valid form: {e}"
    );
}

#[test]
fn one_address_two_protocols() {
    let e = err("[listen]\nimap = [\"127.0.0.1:1143\"]\npop3 = [\"127.0.0.1:1143\"]\n");
    assert_names(&e, "listen.pop3[0]");
}

#[test]
fn bad_hostname_and_log_level_and_backend() {
    assert_names(&err("hostname = \"not a name\"\n"), "hostname");
    assert_names(&err("log_level = \"loud\"\n"), "log_level");
    assert_names(&err("[store]\nbackend = \"mysql\"\n"), "store.backend");
    assert_names(
        &err("[addresses]\ndetail_separator = \"++\"\n"),
        "addresses.detail_separator",
    );
    assert_names(
        &err("[auth]\nargon2_parallelism = 0\n"),
        "auth.argon2_parallelism",
    );
    assert_names(
        &err("[smtp]\nmax_command_line = 100\n"),
        "smtp.max_command_line",
    );
    assert_names(&err("[smtp]\nover_quota = \"maybe\"\n"), "smtp.over_quota");
    assert_names(&err("[smtp]\nmax_recipients = -1\n"), "smtp.max_recipients");
    assert_names(
        &err("[auth]\nplaintext_without_tls = \"sometimes\"\n"),
        "auth.plaintext_without_tls",
    );
    assert_names(&err("[pop3]\nidle_timeout = 30\n"), "pop3.idle_timeout");
    assert_names(
        &err("[pop3]\ncommand_timeout = 0\n"),
        "pop3.command_timeout",
    );
    assert_names(&err("[smtp]\ndata_timeout = 0\n"), "smtp.data_timeout");
    assert_names(&err("shutdown_grace = 0\n"), "shutdown_grace");
    assert_names(
        &err("[pop3]\nmax_command_line = 100\n"),
        "pop3.max_command_line",
    );
}

#[test]
fn tls_needs_both_files() {
    let e = err("[tls]\ncert = \"a.pem\"\n");
    assert!(e.to_string().contains("/etc/tern/tern.toml"), "{e}");
    assert!(e.to_string().contains("key"), "{e}");
}

#[test]
fn syntax_error_names_file_and_line() {
    let e = err("hostname = \"a.org\"\n[listen\n");
    let text = e.to_string();
    assert!(text.starts_with("/etc/tern/tern.toml"), "{text}");
    assert!(text.contains("line 2"), "{text}");
}

#[test]
fn missing_file_says_how_to_fix() {
    let e = tern_config::load(Path::new("/nonexistent/tern.toml")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("/nonexistent/tern.toml") && text.contains("--config"),
        "{text}"
    );
}

#[test]
fn client_and_network_prefixes_default_and_are_checked() {
    let config = parse("", Path::new("/etc/tern/tern.toml")).unwrap();
    assert_eq!((config.clients.ipv4(), config.clients.ipv6()), (32, 64));
    let network = config.auth.network;
    assert_eq!((network.ipv4(), network.ipv6()), (24, 48));
    assert_names(&err("[clients]\nipv4_prefix = 33\n"), "clients.ipv4_prefix");
    assert_names(
        &err("[clients]\nipv6_prefix = 129\n"),
        "clients.ipv6_prefix",
    );
    let e = err("[clients]\nipv6_prefix = 56\n[auth]\nnetwork_ipv6_prefix = 60\n");
    assert_names(&e, "auth.network_ipv6_prefix");
    assert!(e.to_string().contains("clients.ipv6_prefix"), "{e}");
    // A wider client narrows the default network with it.
    let config = parse(
        "[clients]\nipv4_prefix = 16\n",
        Path::new("/etc/tern/tern.toml"),
    )
    .unwrap();
    assert_eq!(config.auth.network.ipv4(), 16);
}

#[test]
fn an_old_per_account_limit_still_loads_and_the_account_delay_is_capped() {
    // Files written when max_failures_per_account refused the account stay valid: the key
    // now sets when the account delay starts.
    let config = parse(
        "[auth]\nmax_failures_per_account = 5\n",
        Path::new("/etc/tern/tern.toml"),
    )
    .unwrap();
    assert_eq!(config.auth.max_failures_per_account, 5);
    assert_eq!(config.auth.account_delay.as_millis(), 250);
    let e = err("[auth]\naccount_delay_ms = 5000\n");
    assert_names(&e, "auth.account_delay_ms");
    assert_names(
        &err("[auth]\nfailure_delay_ms = 2000\nfailure_delay_max_ms = 1000\n"),
        "auth.failure_delay_max_ms",
    );
}

#[test]
fn postmaster_is_an_address_and_defaults_to_none() {
    let path = Path::new("/srv/tern/tern.toml");
    assert_eq!(parse("", path).unwrap().postmaster, None);
    let config = parse("postmaster = \"root@Bücher.example\"\n", path).unwrap();
    assert_eq!(
        config.postmaster.map(|a| a.to_string()),
        Some("root@xn--bcher-kva.example".to_string())
    );
    let e = err("postmaster = \"root\"\n");
    assert_names(&e, "postmaster");
    assert!(e.to_string().contains("postmaster@example.org"), "{e}");
}

#[test]
fn submission_and_outbound_defaults_are_those_of_the_example_file() {
    let path = Path::new("/etc/tern/tern.toml");
    let config = parse("", path).unwrap();
    let minutes = |m: u64| Duration::from_secs(60 * m);
    assert_eq!(
        config.outbound.retry_intervals,
        [
            minutes(5),
            minutes(10),
            minutes(30),
            minutes(60),
            minutes(120),
            minutes(240)
        ]
    );
    assert_eq!(config.outbound.max_age, Duration::from_secs(5 * 86_400));
    assert_eq!(config.outbound.remote_port, 25);
    assert_eq!(config.outbound.max_connections, 100);
    assert_eq!(config.outbound.max_connections_per_domain, 10);
    assert_eq!(config.outbound.connect_timeout, Duration::from_secs(30));
    assert!(config.outbound.dns_servers.is_empty());
    assert!(
        config.outbound.delay_warning.is_zero(),
        "no delay warnings by default"
    );
    assert_eq!(config.submission.max_connections, 500);
    assert_eq!(config.submission.max_connections_per_ip, 20);
    assert!(config.submission.send_as_any.is_empty());
    // The example file spells out the same values.
    let example = parse(EXAMPLE, path).unwrap();
    assert_eq!(example.outbound, config.outbound);
    assert_eq!(example.submission, config.submission);
}

#[test]
fn outbound_durations_take_a_unit() {
    let path = Path::new("/etc/tern/tern.toml");
    let config = parse(
        "[outbound]\nretry_intervals = [\"30s\", \"5m\", \"2h\", \"5d\"]\nmax_age = \"2h\"\n\
         delay_warning = \"4h\"\n",
        path,
    )
    .unwrap();
    assert_eq!(
        config.outbound.retry_intervals,
        [30, 300, 7200, 432_000].map(Duration::from_secs)
    );
    assert_eq!(config.outbound.max_age, Duration::from_secs(7200));
    assert_eq!(config.outbound.delay_warning, Duration::from_secs(4 * 3600));
    assert_names(
        &err("[outbound]\ndelay_warning = \"4 hours\"\n"),
        "outbound.delay_warning",
    );
    for bad in ["5x", "", "0s", "m", "5"] {
        let e = err(&format!(
            "[outbound]\nretry_intervals = [\"1m\", {bad:?}]\n"
        ));
        assert_names(&e, "outbound.retry_intervals[1]");
        let e = err(&format!("[outbound]\nmax_age = {bad:?}\n"));
        assert_names(&e, "outbound.max_age");
    }
    let e = err("[outbound]\nretry_intervals = [\"5x\"]\n");
    assert!(e.to_string().contains("5x"), "should show the value: {e}");
    assert_names(
        &err("[outbound]\nretry_intervals = []\n"),
        "outbound.retry_intervals",
    );
}

#[test]
fn outbound_dns_servers_are_ip_and_port() {
    let path = Path::new("/etc/tern/tern.toml");
    let config = parse(
        "[outbound]\ndns_servers = [\"127.0.0.1:53\", \"[::1]:5353\"]\n",
        path,
    )
    .unwrap();
    let expected: [SocketAddr; 2] = [
        "127.0.0.1:53".parse().unwrap(),
        "[::1]:5353".parse().unwrap(),
    ];
    assert_eq!(config.outbound.dns_servers, expected);
    for bad in ["127.0.0.1", "dns.example:53", "1.1.1.1:99999"] {
        let e = err(&format!(
            "[outbound]\ndns_servers = [\"127.0.0.1:53\", {bad:?}]\n"
        ));
        assert_names(&e, "outbound.dns_servers[1]");
        assert!(e.to_string().contains("ip:port"), "{e}");
    }
    assert_names(
        &err("[outbound]\nremote_port = 0\n"),
        "outbound.remote_port",
    );
    assert_names(
        &err("[outbound]\nmax_connections_per_domain = 0\n"),
        "outbound.max_connections_per_domain",
    );
}

#[test]
fn send_as_any_takes_addresses() {
    let path = Path::new("/etc/tern/tern.toml");
    let config = parse("[submission]\nsend_as_any = [\"app@example.org\"]\n", path).unwrap();
    let names: Vec<String> = config
        .submission
        .send_as_any
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(names, ["app@example.org"]);
    let e = err("[submission]\nsend_as_any = [\"app@example.org\", \"app\"]\n");
    assert_names(&e, "submission.send_as_any[1]");
    assert!(e.to_string().contains("app@example.org"), "{e}");
    assert_names(
        &err("[submission]\nmax_connections_per_ip = 0\n"),
        "submission.max_connections_per_ip",
    );
}
