//! Load for the store, outside any protocol: the append benchmark and the crash-test worker.
//!
//! `tern-store-load bench` prints appends per second with 1 and with 32 concurrent writers,
//! for blobs inside the database and for blobs as files.
//! `tern-store-load worker --dir D` appends until killed, printing `ack <uid> <sha256>` for
//! every append the store acknowledged (the crash test kills it with SIGKILL and checks).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use tern_store::{NewMessage, StoreError, Stores};
use tern_store_sqlite::{SqliteOptions, SqliteStore, DEFAULT_INLINE_BLOB_MAX};
use tern_types::{Address, Domain, Flags, MailboxId};

#[derive(Debug, Parser)]
#[command(about = "Store load: the append benchmark and the crash-test worker")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Layout {
    /// Bodies inside SQLite (the default for messages up to 128 KiB).
    Inline,
    /// Every body as its own file.
    Files,
    Both,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Appends per second with 1 and with N concurrent writers.
    Bench {
        /// Messages per run.
        #[arg(long, default_value_t = 4000)]
        count: u64,
        /// Message size in bytes.
        #[arg(long, default_value_t = 4096)]
        size: usize,
        /// Writer counts to measure, in order.
        #[arg(long, value_delimiter = ',', default_value = "1,32")]
        writers: Vec<usize>,
        /// Where to put the temporary stores (default: the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Which blob layouts to measure.
        #[arg(long, value_enum, default_value_t = Layout::Both)]
        layout: Layout,
    },
    /// Appends forever with concurrent writers, printing each acknowledged append.
    Worker {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 8)]
        writers: usize,
        /// Largest message; sizes vary from 200 bytes up to this, across the inline limit.
        #[arg(long, default_value_t = 300_000)]
        max_size: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Bench {
            count,
            size,
            writers,
            dir,
            layout,
        } => bench(count, size, &writers, dir, layout).await,
        Cmd::Worker {
            dir,
            writers,
            max_size,
        } => worker(&dir, writers, max_size).await,
    }
}

/// Opens the store in `dir` with alice@example.test, returning her INBOX.
async fn open_with_inbox(
    dir: &Path,
    inline_blob_max: usize,
) -> anyhow::Result<(Stores, MailboxId)> {
    let stores = SqliteStore::open(
        dir,
        SqliteOptions {
            inline_blob_max,
            ..SqliteOptions::default()
        },
    )?
    .stores();
    let domain = Domain::parse("example.test")?;
    let alice = Address::parse("alice@example.test")?;
    match stores.directory.add_domain(&domain).await {
        Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let account = match stores.directory.add_account(&alice, "x", 0).await {
        Ok(id) => id,
        Err(StoreError::AlreadyExists(_)) => {
            stores
                .directory
                .account_auth(&alice, Default::default())
                .await?
                .ok_or_else(|| anyhow::anyhow!("alice vanished"))?
                .id
        }
        Err(e) => return Err(e.into()),
    };
    let inbox = stores.mailboxes.mailbox(account, "INBOX").await?;
    Ok((stores, inbox.id))
}

/// A message of `size` bytes, unique by its random Subject; the body is a fixed text so that
/// making it costs next to nothing next to the append being measured.
fn message(rng: &mut impl Rng, size: usize) -> Vec<u8> {
    const LINE: &[u8] =
        b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    let mut body = format!(
        "Subject: load {:016x}{:016x}\r\n\r\n",
        rng.gen::<u64>(),
        rng.gen::<u64>()
    )
    .into_bytes();
    while body.len() < size {
        body.extend_from_slice(LINE);
    }
    body.truncate(size.max(40));
    body
}

async fn append(
    stores: &Stores,
    inbox: MailboxId,
    bytes: Vec<u8>,
) -> anyhow::Result<tern_store::Appended> {
    let blob = stores.blobs.stage(bytes).await?;
    let m = NewMessage {
        blob,
        prefix: Vec::new(),
        flags: Flags::new(),
        internal_date: 0,
    };
    Ok(stores.mailboxes.append(inbox, m).await?)
}

async fn bench(
    count: u64,
    size: usize,
    writers: &[usize],
    dir: Option<PathBuf>,
    layout: Layout,
) -> anyhow::Result<()> {
    println!("# appends of {size}-byte messages, {count} per run, durable (fsync) before each ack");
    let layouts = [
        (Layout::Inline, "blobs in SQLite", DEFAULT_INLINE_BLOB_MAX),
        (Layout::Files, "blobs as files", 0),
    ];
    for (this, label, inline) in layouts {
        if layout != Layout::Both && layout != this {
            continue;
        }
        let mut figures = Vec::new();
        for &n in writers {
            let tmp = match &dir {
                Some(d) => tempfile::tempdir_in(d)?,
                None => tempfile::tempdir()?,
            };
            let (stores, inbox) = open_with_inbox(tmp.path(), inline).await?;
            let next = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let mut tasks = Vec::new();
            for w in 0..n {
                let stores = stores.clone();
                let next = next.clone();
                tasks.push(tokio::spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
                    while next.fetch_add(1, Ordering::Relaxed) < count {
                        append(&stores, inbox, message(&mut rng, size)).await?;
                    }
                    anyhow::Ok(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            let rate = count as f64 / started.elapsed().as_secs_f64();
            println!("{label:<16} writers={n:<3} appends/s={rate:.0}");
            figures.push((n, rate));
        }
        if let (Some(first), Some(last)) = (figures.first(), figures.last()) {
            println!(
                "{label:<16} ratio {}/{} writers = {:.1}x",
                last.0,
                first.0,
                last.1 / first.1
            );
        }
    }
    Ok(())
}

async fn worker(dir: &Path, writers: usize, max_size: usize) -> anyhow::Result<()> {
    let (stores, inbox) = open_with_inbox(dir, DEFAULT_INLINE_BLOB_MAX).await?;
    println!("ready");
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        tasks.push(tokio::spawn(append_forever(
            stores.clone(),
            inbox,
            max_size,
            stdout.clone(),
        )));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn append_forever(
    stores: Stores,
    inbox: MailboxId,
    max_size: usize,
    stdout: Arc<std::sync::Mutex<std::io::Stdout>>,
) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::from_entropy();
    loop {
        let size = rng.gen_range(200..=max_size.max(200));
        let bytes = message(&mut rng, size);
        let digest = hex::encode(Sha256::digest(&bytes));
        let appended = append(&stores, inbox, bytes).await?;
        // Printed only after the store said the append is durable.
        let mut out = stdout
            .lock()
            .map_err(|_| anyhow::anyhow!("stdout poisoned"))?;
        writeln!(out, "ack {} {digest}", appended.uid)?;
        out.flush()?;
    }
}
