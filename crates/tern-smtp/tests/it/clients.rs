//! Python's smtplib and Debian's swaks against the SMTP listener.

use std::process::Command;

use tern_config::Protocol;

use crate::{server, without_trace};

fn subjects(inbox: &[Vec<u8>]) -> Vec<String> {
    inbox
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(without_trace(m)).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(String::from))
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib() {
    let server = server().await;
    server
        .stores()
        .directory
        .add_alias(
            &"@example.test".parse().unwrap(),
            &[tern_types::Address::parse("carol@example.test").unwrap()],
        )
        .await
        .unwrap();
    let port = server.addr(Protocol::Smtp).port().to_string();
    let cafile = server.config.data_dir.join("tls/cert.pem");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/smtplib_client.py");
    let mut python = Command::new("python3");
    python.arg(script).arg(port).arg(cafile);
    tern_testkit::run_client(python, "python3 smtplib client").await;
    let alice = server.inbox("alice@example.test", 4).await;
    assert_eq!(subjects(&alice), ["py one", "py many", "py tls", "py plus"]);
    let bob = server.inbox("bob@example.test", 3).await;
    assert_eq!(subjects(&bob), ["py many", "py 8bit", "py tls"]);
    assert_eq!(
        without_trace(&bob[1]),
        "Subject: py 8bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, naïve café\r\n".as_bytes()
    );
    let carol = server.inbox("carol@example.test", 2).await;
    assert_eq!(
        without_trace(&carol[0]),
        "From: José <josé@remote.example>\r\nSubject: py ütf8\r\n\r\nhéllo\r\n".as_bytes()
    );
    assert!(carol[0].starts_with("Return-Path: <josé@remote.example>\r\n".as_bytes()));
    assert!(String::from_utf8_lossy(&carol[0]).contains("with UTF8SMTP\r\n"));
    assert_eq!(subjects(&carol)[1], "py catchall");
    let tls_copy = String::from_utf8_lossy(&alice[2]).into_owned();
    assert!(
        tls_copy.contains("with ESMTPS\r\n\t(using TLSv1_3 "),
        "{tls_copy}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_plain_pipelined_and_starttls() {
    let server = server().await;
    let addr = server.addr(Protocol::Smtp);
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let runs: [(&str, Vec<&str>); 3] = [
        ("swaks plain", vec![]),
        ("swaks pipelined", vec!["--pipeline"]),
        ("swaks tls", vec!["--tls"]),
    ];
    for (subject, extra) in runs {
        let mut args: Vec<String> = [
            "--server",
            &host,
            "--port",
            &port,
            "--helo",
            "swaks.test",
            "--from",
            "swaks@remote.example",
            "--to",
            "alice@example.test,bob@example.test",
            "--body",
            "from swaks",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push("--header".into());
        args.push(format!("Subject: {subject}"));
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut swaks = Command::new("swaks");
        swaks.args(args);
        let out =
            tern_testkit::run_client(swaks, &format!("{subject} (apt-get install swaks)")).await;
        let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            transcript.contains("250 2.0.0 OK, queued as"),
            "{transcript}"
        );
        if subject == "swaks tls" {
            assert!(
                transcript.contains("<-  220 2.0.0 Ready to start TLS"),
                "{transcript}"
            );
        }
    }
    let alice = server.inbox("alice@example.test", 3).await;
    assert_eq!(
        subjects(&alice),
        ["swaks plain", "swaks pipelined", "swaks tls"]
    );
    assert_eq!(server.inbox("bob@example.test", 3).await.len(), 3);
    assert!(String::from_utf8_lossy(&alice[2]).contains("with ESMTPS"));
}
