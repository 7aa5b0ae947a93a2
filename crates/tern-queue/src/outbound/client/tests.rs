//! The client against a scripted server on 127.0.0.1: the exact bytes it sends, and what it
//! makes of each reply.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
    time::timeout,
};

use super::*;

/// One step of the server's side of a session.
enum Step {
    /// Write these bytes, in one write.
    Say(&'static str),
    /// Read exactly these bytes.
    Hear(String),
    /// Read exactly these bytes, then nothing more while the client waits for the reply: it
    /// did not pipeline.
    HearAlone(&'static str),
    /// Accept TLS on the connection (after the 220 to STARTTLS).
    Tls,
    /// Close the connection, whatever the client sent since.
    Close,
}

use Step::*;

fn hear(s: &str) -> Step {
    Hear(s.to_string())
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves one connection from `script`, then checks that the client sent nothing more before
/// it closed the connection.
async fn fake_server(script: Vec<Step>) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut io: Box<dyn Io> = Box::new(tcp);
        for step in script {
            match step {
                Say(bytes) => io.write_all(bytes.as_bytes()).await.unwrap(),
                Hear(bytes) => read_exactly(&mut io, &bytes).await,
                HearAlone(bytes) => {
                    read_exactly(&mut io, bytes).await;
                    let mut more = [0u8; 1];
                    let early = timeout(Duration::from_millis(50), io.read(&mut more)).await;
                    assert!(
                        early.is_err(),
                        "the client sent more before the reply to {bytes:?}"
                    );
                }
                Tls => io = Box::new(tls_acceptor().accept(io).await.unwrap()),
                Close => return,
            }
        }
        let mut rest = Vec::new();
        // A TLS client may close without close_notify: an error is the end too.
        let _ = timeout(Duration::from_secs(5), io.read_to_end(&mut rest)).await;
        assert_eq!(
            String::from_utf8_lossy(&rest),
            "",
            "unexpected bytes at the end"
        );
    });
    (addr, server)
}

async fn read_exactly(io: &mut Box<dyn Io>, expected: &str) {
    let mut got = vec![0u8; expected.len()];
    timeout(Duration::from_secs(5), io.read_exact(&mut got))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {expected:?}"))
        .unwrap_or_else(|e| panic!("reading {expected:?}: {e}"));
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["mx.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn settings() -> ClientSettings {
    let t = Duration::from_secs(5);
    ClientSettings {
        helo_name: "client.test".into(),
        timeouts: Timeouts {
            connect: t,
            greeting: t,
            mail: t,
            rcpt: t,
            data_init: t,
            data_block: t,
            data_end: t,
        },
        tls: insecure_tls_config(),
    }
}

fn recipients(addresses: &[&str]) -> Vec<OutRecipient> {
    addresses
        .iter()
        .map(|a| OutRecipient {
            address: a.to_string(),
            notify: None,
            orcpt: None,
        })
        .collect()
}

fn envelope(recipients: &[OutRecipient]) -> Envelope<'_> {
    Envelope {
        sender: "a@a.test",
        recipients,
        envid: None,
        ret: None,
        smtputf8: false,
        eight_bit: false,
    }
}

const MESSAGE: &str = "Subject: hi\r\n\r\nbody\r\n";

/// Runs the client against `script` and returns its result once the server is done too.
async fn run(
    script: Vec<Step>,
    settings: &ClientSettings,
    envelope: &Envelope<'_>,
    message: &[u8],
) -> Result<Vec<Reply>, AttemptError> {
    let (addr, server) = fake_server(script).await;
    let result = send(addr, "mx.test", settings, envelope, message).await;
    server.await.expect("the server's script");
    result.map(|delivery| delivery.replies)
}

fn codes(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.code).collect()
}

#[test]
fn extensions_of_real_ehlo_replies() {
    let gmail = "250-mx.google.com at your service, [192.0.2.1]\r\n250-SIZE 157286400\r\n\
                 250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n\
                 250-CHUNKING\r\n250 SMTPUTF8\r\n";
    let ext = Extensions::parse(gmail.as_bytes());
    for flag in [
        EXT_SIZE,
        EXT_8BIT_MIME,
        EXT_START_TLS,
        EXT_PIPELINING,
        EXT_SMTP_UTF8,
    ] {
        assert!(ext.has(flag), "{flag:#x}");
    }
    assert_eq!(ext.size_limit(), Some(157286400));
    let exchange = "250-mail.example.com Hello [192.0.2.1]\r\n250-SIZE 37748736\r\n\
                    250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n\
                    250-X-ANONYMOUSTLS\r\n250-AUTH NTLM\r\n250-X-EXPS GSSAPI NTLM\r\n\
                    250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 XRDST\r\n";
    let ext = Extensions::parse(exchange.as_bytes());
    assert!(ext.has(EXT_DSN) && ext.has(EXT_PIPELINING) && !ext.has(EXT_SMTP_UTF8));
    // Not a list smtp-proto understands: no extension, but no failure either.
    assert!(!Extensions::parse(b"250-mx\r\n251 odd\r\n").has(EXT_PIPELINING));
}

#[test]
fn an_attempt_can_run_in_a_spawned_task() {
    fn assert_send<T: std::marker::Send>(_: &T) {}
    let settings = settings();
    let env = envelope(&[]);
    assert_send(&send(
        "127.0.0.1:25".parse().unwrap(),
        "mx.test",
        &settings,
        &env,
        b"",
    ));
}

#[tokio::test]
async fn pipelined_transaction_sends_these_exact_bytes() {
    let message = ".first line\r\nSubject: x\r\n\r\n.\r\n..two\r\nlast\r\n";
    let rcpts = recipients(&["b@b.test", "c@b.test"]);
    let env = Envelope {
        eight_bit: true,
        ..envelope(&rcpts)
    };
    let script = vec![
        Say("220 mx.test ESMTP\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"),
        // One write, before any reply (RFC 2920).
        hear(&format!(
            "MAIL FROM:<a@a.test> SIZE={} BODY=8BITMIME\r\nRCPT TO:<b@b.test>\r\n\
             RCPT TO:<c@b.test>\r\nDATA\r\n",
            message.len()
        )),
        Say("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"),
        // Stuffed at byte 0 too; no empty line added before the end.
        hear("..first line\r\nSubject: x\r\n\r\n..\r\n...two\r\nlast\r\n.\r\n"),
        Say("250 2.0.0 queued as 1\r\n"),
        hear("QUIT\r\n"),
        Say("221 2.0.0 bye\r\n"),
    ];
    let replies = run(script, &settings(), &env, message.as_bytes())
        .await
        .unwrap();
    assert_eq!(replies.len(), 2);
    for reply in &replies {
        assert_eq!(reply.to_string(), "250 2.0.0 queued as 1");
    }
}

#[tokio::test]
async fn each_recipient_gets_its_own_refusal_or_the_data_reply() {
    let rcpts = recipients(&["nobody@b.test", "c@b.test"]);
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250-mx.test\r\n250 PIPELINING\r\n"),
        hear("MAIL FROM:<a@a.test>\r\nRCPT TO:<nobody@b.test>\r\nRCPT TO:<c@b.test>\r\nDATA\r\n"),
        Say("250 ok\r\n550-5.1.1 no such\r\n550 5.1.1 user\r\n250 ok\r\n354 go\r\n"),
        hear(&format!("{MESSAGE}.\r\n")),
        Say("250 2.0.0 done\r\n"),
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let replies = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(replies[0].to_string(), "550 5.1.1 no such user");
    assert!(replies[0].is_permanent());
    assert_eq!(replies[1].to_string(), "250 2.0.0 done");
}

#[tokio::test]
async fn data_451_is_temporary_for_every_accepted_recipient() {
    let rcpts = recipients(&["b@b.test", "c@b.test"]);
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250-mx.test\r\n250 PIPELINING\r\n"),
        hear("MAIL FROM:<a@a.test>\r\nRCPT TO:<b@b.test>\r\nRCPT TO:<c@b.test>\r\nDATA\r\n"),
        Say("250 ok\r\n250 ok\r\n250 ok\r\n451 4.3.0 try again later\r\n"),
        // No message text after a refused DATA.
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let replies = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(codes(&replies), [451, 451]);
    assert!(replies
        .iter()
        .all(|r| !r.is_positive() && !r.is_permanent()));
}

#[tokio::test]
async fn pipelined_data_accepted_without_recipients_is_ended_at_once() {
    let rcpts = recipients(&["b@b.test"]);
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250-mx.test\r\n250 PIPELINING\r\n"),
        hear("MAIL FROM:<a@a.test>\r\nRCPT TO:<b@b.test>\r\nDATA\r\n"),
        Say("250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n"),
        // RFC 2920 §3.1: "." alone, not the message.
        hear(".\r\n"),
        Say("554 5.5.1 no valid recipients\r\n"),
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let replies = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(replies[0].to_string(), "550 5.1.1 unknown");
}

#[tokio::test]
async fn without_pipelining_each_command_waits_for_its_reply() {
    let rcpts = recipients(&["b@b.test"]);
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        // SIZE without a number: no limit, but SIZE= is still sent.
        Say("250-mx.test\r\n250 SIZE\r\n"),
        HearAlone("MAIL FROM:<a@a.test> SIZE=21\r\n"),
        Say("250 ok\r\n"),
        HearAlone("RCPT TO:<b@b.test>\r\n"),
        Say("250 ok\r\n"),
        HearAlone("DATA\r\n"),
        Say("354 go\r\n"),
        hear(&format!("{MESSAGE}.\r\n")),
        Say("250 done\r\n"),
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let replies = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(codes(&replies), [250]);
}

#[tokio::test]
async fn without_pipelining_no_data_when_every_recipient_is_refused() {
    let rcpts = recipients(&["b@b.test"]);
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250 mx.test\r\n"),
        hear("MAIL FROM:<a@a.test>\r\n"),
        Say("250 ok\r\n"),
        hear("RCPT TO:<b@b.test>\r\n"),
        Say("450 4.2.1 mailbox busy\r\n"),
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let replies = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(codes(&replies), [450]);
}

#[tokio::test]
async fn helo_when_ehlo_is_not_known() {
    let rcpts = recipients(&["b@b.test"]);
    let env = envelope(&rcpts);
    let script = vec![
        Say("220 old.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("502 5.5.1 command not recognized\r\n"),
        hear("HELO client.test\r\n"),
        Say("250 old.test\r\n"),
        HearAlone("MAIL FROM:<a@a.test>\r\n"),
        Say("250 ok\r\n"),
        HearAlone("RCPT TO:<b@b.test>\r\n"),
        Say("250 ok\r\n"),
        HearAlone("DATA\r\n"),
        Say("354 go\r\n"),
        hear(&format!("{MESSAGE}.\r\n")),
        Say("250 done\r\n"),
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let replies = run(script, &settings(), &env, MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(codes(&replies), [250]);
}

#[tokio::test]
async fn eight_bit_text_to_a_server_without_8bitmime_is_returned() {
    let rcpts = recipients(&["b@b.test"]);
    let env = Envelope {
        eight_bit: true,
        ..envelope(&rcpts)
    };
    let script = vec![
        Say("220 old.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250 old.test\r\n"),
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let err = run(script, &settings(), &env, MESSAGE.as_bytes())
        .await
        .unwrap_err();
    let AttemptError::Session {
        failure: Failure::Local { status, .. },
        permanent: true,
    } = err
    else {
        panic!("not a permanent failure of ours: {err:?}");
    };
    assert_eq!(status.to_string(), "5.6.3");
}

#[tokio::test]
async fn smtputf8_needed_but_not_offered_is_permanent() {
    let rcpts = recipients(&["b@b.test"]);
    let env = Envelope {
        smtputf8: true,
        ..envelope(&rcpts)
    };
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250-mx.test\r\n250 8BITMIME\r\n"),
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let err = run(script, &settings(), &env, MESSAGE.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        AttemptError::Session {
            failure: Failure::Local {
                status: EnhancedStatus([5, 6, 7]),
                text: "the recipient's server does not support SMTPUTF8".into(),
            },
            permanent: true,
        }
    );
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_not_sent() {
    let rcpts = recipients(&["b@b.test"]);
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250-mx.test\r\n250 SIZE 10\r\n"),
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let err = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap_err();
    let AttemptError::Session {
        failure,
        permanent: true,
    } = err
    else {
        panic!("not a permanent failure: {err:?}");
    };
    assert_eq!(failure.status(), Some(EnhancedStatus([5, 3, 4])));
}

#[tokio::test]
async fn starttls_discards_what_came_with_the_220() {
    let rcpts = recipients(&["b@b.test"]);
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250-mx.test\r\n250 STARTTLS\r\n"),
        hear("STARTTLS\r\n"),
        // An injected reply in the same packet as the 220 (CVE-2011-0411). Taken for the
        // reply to the EHLO inside TLS, it would hide PIPELINING and the script would stall.
        Say("220 2.0.0 ready\r\n250 injected\r\n"),
        Tls,
        hear("EHLO client.test\r\n"),
        Say("250-mx.test\r\n250 PIPELINING\r\n"),
        hear("MAIL FROM:<a@a.test>\r\nRCPT TO:<b@b.test>\r\nDATA\r\n"),
        Say("250 ok\r\n250 ok\r\n354 go\r\n"),
        hear(&format!("{MESSAGE}.\r\n")),
        Say("250 2.0.0 done\r\n"),
        hear("QUIT\r\n"),
        Say("221 bye\r\n"),
    ];
    let replies = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap();
    assert_eq!(codes(&replies), [250]);
}

#[tokio::test]
async fn a_failed_tls_handshake_means_the_next_host() {
    let rcpts = recipients(&["b@b.test"]);
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250-mx.test\r\n250 STARTTLS\r\n"),
        hear("STARTTLS\r\n"),
        Say("220 ready\r\n"),
        Say("this is not TLS\r\n"),
        Close,
    ];
    let err = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(err, AttemptError::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn greeting_421_means_the_next_host_and_554_is_permanent() {
    let rcpts = recipients(&["b@b.test"]);
    // RFC 5321 §3.1: after 554 the server waits for QUIT; after 421 it has gone.
    let busy = ("421 4.3.2 busy\r\n", vec![]);
    let refused = (
        "554 5.7.1 go away\r\n",
        vec![hear("QUIT\r\n"), Say("221 bye\r\n")],
    );
    for ((greeting, rest), permanent) in [(busy, false), (refused, true)] {
        let mut script = vec![Say(greeting)];
        script.extend(rest);
        let err = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
            .await
            .unwrap_err();
        match err {
            // Before MAIL a temporary refusal sends us to the next host (RFC 5321 §5.1).
            AttemptError::Connect(text) => {
                assert!(!permanent);
                assert_eq!(format!("{text}\r\n"), greeting);
            }
            AttemptError::Session {
                failure: Failure::Reply(reply),
                permanent: p,
            } => {
                assert!(p && permanent);
                assert_eq!(format!("{reply}\r\n"), greeting);
            }
            err => panic!("not a refusal: {err:?}"),
        }
    }
}

#[tokio::test]
async fn a_silent_server_is_a_connect_failure_after_the_greeting_timeout() {
    let mut settings = settings();
    settings.timeouts.greeting = Duration::from_millis(100);
    let rcpts = recipients(&["b@b.test"]);
    let err = run(vec![], &settings, &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(err, AttemptError::Connect("timed out at greeting".into()));
}

#[tokio::test]
async fn a_connection_lost_after_mail_is_temporary() {
    let rcpts = recipients(&["b@b.test"]);
    let script = vec![
        Say("220 mx.test\r\n"),
        hear("EHLO client.test\r\n"),
        Say("250 mx.test\r\n"),
        hear("MAIL FROM:<a@a.test>\r\n"),
        Say("250 ok\r\n"),
        hear("RCPT TO:<b@b.test>\r\n"),
        Close,
    ];
    let err = run(script, &settings(), &envelope(&rcpts), MESSAGE.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        AttemptError::Session {
            failure: Failure::Local {
                status: EnhancedStatus([4, 4, 2]),
                text: "the server closed the connection at RCPT".into(),
            },
            permanent: false,
        }
    );
}
