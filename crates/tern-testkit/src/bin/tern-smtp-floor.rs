//! The least a durable SMTP server can do under `smtp-source`: issue 11 item 7's floor.
//!
//! `bench/smtp-floor.sh` runs it beside Postfix's `smtp-sink` (the protocol alone) and Tern.
//! It speaks just enough SMTP for `smtp-source` (greeting, HELO/EHLO, MAIL, RCPT, DATA, QUIT,
//! RSET, NOOP), on one thread with one event loop, as `smtp-sink` does. With `--fsync FILE`
//! every message is written into FILE (a ring, see [`RING`]) and its 250 waits for an
//! `fdatasync` of FILE that covers it; a second thread does the syncs, one for every message
//! that arrived since the last (group commit), the least "on disk before the reply" costs.
//! Without it the 250 goes at once (the sink, plus reading the message into memory). No
//! checks, no store, no parsing beyond the verb: a bound, not a server.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

#[derive(Parser)]
#[command(
    about = "An SMTP responder that does nothing but (optionally) one group fsync per message"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:10027")]
    listen: String,
    /// Write each message into this file (a 64 MiB ring, overwritten in place) and answer its
    /// DATA only after an fdatasync.
    #[arg(long)]
    fsync: Option<std::path::PathBuf>,
}

/// Messages waiting for the sync thread: their octets and who waits for the 250.
#[derive(Default)]
struct Pending {
    octets: Vec<u8>,
    waiters: Vec<oneshot::Sender<()>>,
}

/// What the sessions share with the sync thread.
struct Syncer {
    pending: Mutex<Pending>,
    ready: Condvar,
}

/// The file's size: written once with zeros before the first message and then overwritten
/// in a ring, so that a sync writes data only, as SQLite's reused WAL does, never the
/// file's size or newly allocated blocks (an append's sync commits the file system's journal).
const RING: u64 = 64 * 1024 * 1024;

impl Syncer {
    fn run(&self, file: File) -> std::io::Result<()> {
        let mut offset = 0u64;
        loop {
            let batch = {
                let mut pending = self.pending.lock().map_err(|_| poisoned())?;
                while pending.waiters.is_empty() {
                    pending = self.ready.wait(pending).map_err(|_| poisoned())?;
                }
                std::mem::take(&mut *pending)
            };
            if offset + batch.octets.len() as u64 > RING {
                offset = 0;
            }
            file.write_all_at(&batch.octets, offset)?;
            offset += batch.octets.len() as u64;
            file.sync_data()?;
            for waiter in batch.waiters {
                let _ = waiter.send(());
            }
        }
    }
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("poisoned")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let syncer = match &args.fsync {
        Some(path) => {
            let file = File::create(path)?;
            let zeros = vec![0u8; 1024 * 1024];
            for block in 0..RING / zeros.len() as u64 {
                file.write_all_at(&zeros, block * zeros.len() as u64)?;
            }
            file.sync_all()?;
            let syncer = Arc::new(Syncer {
                pending: Mutex::new(Pending::default()),
                ready: Condvar::new(),
            });
            let worker = syncer.clone();
            // A failed write or sync ends the process: its sessions would wait for ever.
            std::thread::spawn(move || {
                if let Err(e) = worker.run(file) {
                    eprintln!("tern-smtp-floor: cannot write or sync the file: {e}");
                    std::process::exit(1);
                }
            });
            Some(syncer)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(&args.listen).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let syncer = syncer.clone();
            tokio::task::spawn_local(async move {
                let _ = session(stream, syncer).await;
            });
        }
    })
}

/// Where the end of a message is: at the start of the data (an empty message) or after a
/// CRLF; `from` skips what earlier reads already searched.
fn end_of_data(buf: &[u8], from: usize) -> Option<usize> {
    if buf.starts_with(b".\r\n") {
        return Some(3);
    }
    memchr::memmem::find(&buf[from..], b"\r\n.\r\n").map(|at| from + at + 5)
}

async fn session(mut stream: TcpStream, syncer: Option<Arc<Syncer>>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.write_all(b"220 floor ESMTP\r\n").await?;
    let mut buf = Vec::with_capacity(8192);
    // `Some(searched)` inside DATA: how much of `buf` holds no end of message.
    let mut in_data: Option<usize> = None;
    let mut chunk = [0u8; 16384];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            if let Some(searched) = in_data {
                let Some(end) = end_of_data(&buf, searched) else {
                    in_data = Some(buf.len().saturating_sub(4));
                    break;
                };
                if let Some(syncer) = &syncer {
                    let (tx, rx) = oneshot::channel();
                    {
                        let mut pending = syncer.pending.lock().map_err(|_| poisoned())?;
                        pending.octets.extend_from_slice(&buf[..end]);
                        pending.waiters.push(tx);
                    }
                    syncer.ready.notify_one();
                    rx.await.map_err(|_| poisoned())?;
                }
                buf.drain(..end);
                in_data = None;
                stream.write_all(b"250 2.0.0 Ok: queued\r\n").await?;
                continue;
            }
            let Some(eol) = memchr::memchr(b'\n', &buf) else {
                break;
            };
            let verb = buf[..eol].get(..4).map(<[u8]>::to_ascii_uppercase);
            buf.drain(..=eol);
            let reply: &[u8] = match verb.as_deref() {
                Some(b"EHLO") => b"250-floor\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
                Some(b"DATA") => {
                    in_data = Some(0);
                    b"354 End data with <CR><LF>.<CR><LF>\r\n"
                }
                Some(b"QUIT") => {
                    stream.write_all(b"221 Bye\r\n").await?;
                    return Ok(());
                }
                _ => b"250 Ok\r\n",
            };
            stream.write_all(reply).await?;
        }
    }
}
