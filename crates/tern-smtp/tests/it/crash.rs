//! Nothing acknowledged is lost: `tern serve` in a child process takes mail from concurrent
//! SMTP sessions and is killed with SIGKILL at a random moment, several rounds. After each
//! restart every message that got its `250` is in the INBOX exactly once, and the queue drains.
//! And a graceful stop (SIGTERM) under load answers every message it stored: nothing stored
//! without its `250`, which the sender would send again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tern_config::Protocol;
use tern_store_sqlite::{SqliteOptions, SqliteStore};
use tern_testkit::{tern_binary, ChildServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const ROUNDS: usize = 3;
const SESSIONS: usize = 8;

async fn reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        text.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(text);
        }
    }
}

/// Sends messages until the connection breaks; records each subject acknowledged with 250.
async fn send_until_killed(
    addr: std::net::SocketAddr,
    session: usize,
    round: usize,
    acked: Arc<Mutex<Vec<String>>>,
) {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return;
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut step = async || -> std::io::Result<()> {
        reply(&mut reader).await?;
        write.write_all(b"EHLO crash.test\r\n").await?;
        reply(&mut reader).await?;
        for i in 0.. {
            let subject = format!("crash {round}-{session}-{i}");
            let body = format!(
                "Subject: {subject}\r\n\r\n{}\r\n",
                "x".repeat(100 + (i % 50) * 97)
            );
            write
                .write_all(
                    b"MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n",
                )
                .await?;
            for _ in 0..3 {
                reply(&mut reader).await?;
            }
            write.write_all(format!("{body}.\r\n").as_bytes()).await?;
            if reply(&mut reader).await?.starts_with("250") {
                acked.lock().unwrap().push(subject);
            }
        }
        Ok(())
    };
    let _ = step().await;
}

/// How a pipelining client (RFC 2920) fares against a server that stops.
#[derive(Debug, Default)]
struct Outcomes {
    /// Subjects whose end of data got a 250.
    acked: Vec<String>,
    /// Subjects whose end of data got another reply, or none.
    unacked: Vec<String>,
    /// Whether a session saw 421 4.3.2 before the server closed it.
    saw_shutdown_reply: bool,
}

/// Sends messages until the server closes the connection, pipelining each message's end with
/// the next envelope: after the server stops, the 250 for a message is followed by 421 for
/// the commands behind it.
async fn pipeline_until_stopped(
    addr: std::net::SocketAddr,
    session: usize,
    outcomes: Arc<Mutex<Outcomes>>,
) {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return;
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let envelope = b"MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n";
    let record = |subject: &str, reply: &std::io::Result<String>| {
        let mut o = outcomes.lock().unwrap();
        match reply {
            Ok(text) if text.starts_with("250") => o.acked.push(subject.to_string()),
            _ => o.unacked.push(subject.to_string()),
        }
        if let Ok(text) = reply {
            o.saw_shutdown_reply |= text.starts_with("421 4.3.2");
        }
    };
    let mut run = async || -> std::io::Result<()> {
        reply(&mut reader).await?;
        write.write_all(b"EHLO shutdown.test\r\n").await?;
        reply(&mut reader).await?;
        write.write_all(envelope).await?;
        for i in 0.. {
            for _ in 0..3 {
                let r = reply(&mut reader).await?;
                if !(r.starts_with("250") || r.starts_with("354")) {
                    outcomes.lock().unwrap().saw_shutdown_reply |= r.starts_with("421 4.3.2");
                    return Ok(());
                }
            }
            let subject = format!("stop {session}-{i}");
            let body = format!(
                "Message-ID: <{session}.{i}@shutdown.test>\r\nSubject: {subject}\r\n\r\n{}\r\n.\r\n",
                "y".repeat(200 + (i % 40) * 131)
            );
            let mut wire = body.into_bytes();
            wire.extend_from_slice(envelope);
            if let Err(e) = write.write_all(&wire).await {
                record(&subject, &Err(e));
                return Ok(());
            }
            let verdict = reply(&mut reader).await;
            record(&subject, &verdict);
            verdict?;
        }
        Ok(())
    };
    let _ = run().await;
}

/// Subjects of everything in alice's INBOX, and how many messages wait in the queue.
async fn stored(data_dir: &std::path::Path) -> (HashMap<String, usize>, usize) {
    let store = SqliteStore::open(data_dir, SqliteOptions::default()).unwrap();
    let stores = store.stores();
    let inbox = tern_testkit::inbox_of(&stores, "alice@example.test").await;
    let mut subjects = HashMap::new();
    for record in stores
        .mailboxes
        .messages(inbox.id, tern_types::Uid(1))
        .await
        .unwrap()
    {
        let message = stores
            .mailboxes
            .read_message(inbox.id, record.uid)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&message).into_owned();
        let subject = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
            .to_string();
        *subjects.entry(subject).or_insert(0) += 1;
    }
    (subjects, stores.queue.list().await.unwrap().len())
}

#[test]
fn acknowledged_mail_survives_sigkill_exactly_once() {
    let mut server = ChildServer::spawn(&tern_binary());
    server.add_user("alice@example.test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut all_acked: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let addr = server.addr(Protocol::Smtp);
        let kill_after = Duration::from_millis(rand::thread_rng().gen_range(300..1500));
        runtime.block_on(async {
            let senders: Vec<_> = (0..SESSIONS)
                .map(|s| tokio::spawn(send_until_killed(addr, s, round, acked.clone())))
                .collect();
            tokio::time::sleep(kill_after).await;
            server.kill();
            for s in senders {
                let _ = s.await;
            }
        });
        let acked = acked.lock().unwrap().clone();
        assert!(!acked.is_empty(), "round {round}: nothing was acknowledged");
        all_acked.extend(acked);
        // The restart delivers whatever was queued but not yet delivered.
        server.restart();
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            server.terminate().is_some_and(|s| s.success()),
            "{}",
            server.log()
        );
        let (subjects, queued) = runtime.block_on(stored(&server.data_dir()));
        for subject in &all_acked {
            match subjects.get(subject) {
                Some(1) => {}
                Some(n) => panic!("round {round}: {subject} stored {n} times"),
                None => panic!("round {round}: acknowledged {subject} is missing"),
            }
        }
        assert_eq!(queued, 0, "round {round}: the queue did not drain");
        eprintln!(
            "round {round}: {} acknowledged, {} stored",
            all_acked.len(),
            subjects.len()
        );
        server.restart();
    }
}

/// SIGTERM under load: every stored message was acknowledged with 250 (so no sender sends it
/// again), every acknowledged message is stored exactly once, and the server stops in
/// bounded time.
#[test]
fn sigterm_under_load_acknowledges_exactly_what_it_stored() {
    const CLIENTS: usize = 16;
    let mut server = ChildServer::spawn(&tern_binary());
    server.add_user("alice@example.test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let addr = server.addr(Protocol::Smtp);
    let stopped_in = runtime.block_on(async {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|s| tokio::spawn(pipeline_until_stopped(addr, s, outcomes.clone())))
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let started = Instant::now();
        let status = tokio::task::block_in_place(|| server.terminate());
        let stopped_in = started.elapsed();
        assert!(
            status.is_some_and(|s| s.success()),
            "tern serve did not stop cleanly: {}",
            server.log()
        );
        for c in clients {
            c.await.unwrap();
        }
        stopped_in
    });
    // shutdown_grace is 10 s; the server must not wait on its clients beyond it.
    assert!(
        stopped_in < Duration::from_secs(16),
        "stopping took {stopped_in:?}"
    );
    // The restart delivers whatever was queued but not yet delivered.
    server.restart();
    let store = SqliteStore::open(&server.data_dir(), SqliteOptions::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !runtime
        .block_on(store.stores().queue.list())
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the queue did not drain");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(store);
    assert!(
        server.terminate().is_some_and(|s| s.success()),
        "{}",
        server.log()
    );
    let (subjects, queued) = runtime.block_on(stored(&server.data_dir()));
    assert_eq!(queued, 0);
    let outcomes = outcomes.lock().unwrap();
    assert!(
        outcomes.acked.len() > CLIENTS,
        "too little was acknowledged to test anything: {outcomes:?}"
    );
    assert!(
        outcomes.saw_shutdown_reply,
        "no session was told 421 4.3.2: {}",
        server.log()
    );
    for subject in &outcomes.acked {
        match subjects.get(subject) {
            Some(1) => {}
            Some(n) => panic!("{subject} stored {n} times"),
            None => panic!("acknowledged {subject} is missing"),
        }
    }
    for (subject, n) in &subjects {
        assert!(
            outcomes.acked.contains(subject),
            "{subject} was stored ({n}x) without its 250: the sender will send it again"
        );
    }
    eprintln!(
        "{} acknowledged and stored, {} not acknowledged and not stored, stopped in {stopped_in:?}",
        outcomes.acked.len(),
        outcomes.unacked.len()
    );
}
