//! The private Postfix instance: it accepts mail from 127.0.0.0/8 for its relay domain and
//! relays it, with no DNS, to the peer its transport table names (here a sink in the test).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tern_testkit::postfix::{free_loopback_addr, PostfixInstance, PostfixSetup};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One message as the sink received it.
#[derive(Debug)]
struct Received {
    helo: String,
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

/// A minimal SMTP server that accepts everything (no extensions, so no STARTTLS and no
/// pipelining: the client talks in lock-step) and sends each message down `tx`.
async fn sink(listener: TcpListener, tx: mpsc::UnboundedSender<(SocketAddr, Received)>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            return;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            // A session that breaks off just records nothing.
            let _ = sink_session(stream, peer, tx).await;
        });
    }
}

async fn sink_session(
    stream: TcpStream,
    peer: SocketAddr,
    tx: mpsc::UnboundedSender<(SocketAddr, Received)>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut helo = String::new();
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => {
                helo = command.get(4..).unwrap_or_default().trim().to_string();
                b"250 sink.test\r\n"
            }
            "MAIL" => {
                mail_from = command.get(5..).unwrap_or_default().trim().to_string();
                rcpt_to.clear();
                b"250 2.1.0 ok\r\n"
            }
            "RCPT" => {
                rcpt_to.push(command.get(5..).unwrap_or_default().trim().to_string());
                b"250 2.1.5 ok\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go on\r\n").await?;
                let mut data = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let received = Received {
                    helo: helo.clone(),
                    mail_from: std::mem::take(&mut mail_from),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                };
                let _ = tx.send((peer, received));
                b"250 2.0.0 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 ok\r\n",
        };
        write.write_all(reply).await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_relays_a_message_to_the_transport_destination() {
    let sink_listener = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 4), 0))
        .await
        .expect("bind the sink on 127.0.0.4");
    let sink_addr = sink_listener.local_addr().expect("sink address");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sink_task = tokio::spawn(sink(sink_listener, tx));

    let listen = free_loopback_addr(Ipv4Addr::new(127, 0, 0, 3));
    let setup = PostfixSetup {
        listen,
        relay_domains: &["x.test"],
        transport: &[("x.test", sink_addr)],
        myhostname: "postfix.test",
    };
    // Starting runs `postfix start` and polls the listener: blocking, so off the runtime's
    // scheduling (the sink keeps running on the other worker).
    let Some(postfix) = tokio::task::block_in_place(|| PostfixInstance::start(&setup)) else {
        sink_task.abort();
        return; // skipped, with the reason printed
    };

    let message = b"From: a@sender.test\r\nTo: u@x.test\r\nSubject: interop\r\n\
                    Message-ID: <one@sender.test>\r\n\r\nhello through Postfix\r\n"
        .to_vec();
    tern_testkit::smtp_client::deliver(
        postfix.listen(),
        "a@sender.test",
        &["u@x.test"],
        &[message],
    )
    .await;

    let (peer, received) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "nothing reached the sink; Postfix's log:\n{}",
                postfix.log()
            )
        })
        .expect("sink running");
    assert_eq!(
        peer.ip(),
        listen.ip(),
        "Postfix sends from its listener's address"
    );
    assert_eq!(received.helo, "postfix.test");
    assert!(
        received.mail_from.starts_with("FROM:<a@sender.test>"),
        "{}",
        received.mail_from
    );
    assert_eq!(received.rcpt_to.len(), 1);
    assert!(
        received.rcpt_to[0].starts_with("TO:<u@x.test>"),
        "{:?}",
        received.rcpt_to
    );
    assert!(
        received.data.contains("Subject: interop\r\n"),
        "{}",
        received.data
    );
    assert!(
        received.data.contains("\r\n\r\nhello through Postfix\r\n"),
        "{}",
        received.data
    );
    assert!(
        received.data.contains("by postfix.test (Postfix)"),
        "{}",
        received.data
    );

    let drained = tokio::task::block_in_place(|| postfix.wait_queue_empty(Duration::from_secs(10)));
    assert!(
        drained,
        "Postfix's queue did not empty; its log:\n{}",
        postfix.log()
    );
    // The log is written asynchronously (postlogd): give the delivery line a moment.
    let mut log = postfix.log();
    for _ in 0..40 {
        if log.contains("status=sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        log = postfix.log();
    }
    assert!(
        log.contains(&format!(
            "to=<u@x.test>, relay={}[{}]:{}",
            sink_addr.ip(),
            sink_addr.ip(),
            sink_addr.port()
        )) && log.contains("status=sent"),
        "{log}"
    );

    let dir = postfix.config_dir();
    tokio::task::block_in_place(|| drop(postfix));
    assert!(
        !dir.exists(),
        "the instance's directory is removed when it is dropped"
    );
    sink_task.abort();
}

/// Two instances at once (as parallel tests start them) each run on their own directory and
/// listener: started together, each greets with its own name, and each is gone once dropped.
#[test]
fn two_instances_run_side_by_side() {
    let start = |ip: Ipv4Addr, name: &'static str| {
        std::thread::spawn(move || {
            let setup = PostfixSetup {
                listen: free_loopback_addr(ip),
                relay_domains: &[],
                transport: &[],
                myhostname: name,
            };
            PostfixInstance::start(&setup)
        })
    };
    let a = start(Ipv4Addr::new(127, 0, 0, 5), "a.postfix.test");
    let b = start(Ipv4Addr::new(127, 0, 0, 6), "b.postfix.test");
    let a = a.join().expect("start a");
    let b = b.join().expect("start b");
    let (Some(a), Some(b)) = (a, b) else {
        return; // skipped, with the reason printed
    };
    assert_ne!(a.config_dir(), b.config_dir());
    for (instance, name) in [(&a, "a.postfix.test"), (&b, "b.postfix.test")] {
        use std::io::BufRead;
        let stream = std::net::TcpStream::connect(instance.listen()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut greeting = String::new();
        std::io::BufReader::new(stream)
            .read_line(&mut greeting)
            .expect("greeting");
        assert!(greeting.starts_with(&format!("220 {name} ")), "{greeting}");
    }
    let dirs = [a.config_dir(), b.config_dir()];
    drop(a);
    drop(b);
    for dir in dirs {
        assert!(!dir.exists(), "{} is removed", dir.display());
    }
}
