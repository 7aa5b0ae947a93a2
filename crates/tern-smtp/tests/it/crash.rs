//! Nothing acknowledged is lost: `tern serve` in a child process takes mail from concurrent
//! SMTP sessions and is killed with SIGKILL at a random moment, several rounds. After each
//! restart every message that got its `250` is in the INBOX exactly once, and the queue drains.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// Subjects of everything in alice's INBOX, and how many messages wait in the queue.
async fn stored(data_dir: &std::path::Path) -> (HashMap<String, usize>, usize) {
    let store = SqliteStore::open(data_dir, SqliteOptions::default()).unwrap();
    let stores = store.stores();
    let alice = stores
        .directory
        .account_auth(
            &tern_types::Address::parse("alice@example.test").unwrap(),
            Default::default(),
        )
        .await
        .unwrap()
        .unwrap();
    let inbox = stores.mailboxes.mailbox(alice.id, "INBOX").await.unwrap();
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
    let add = server.cli(&["user", "add", "alice@example.test"], "pw\n");
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
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
