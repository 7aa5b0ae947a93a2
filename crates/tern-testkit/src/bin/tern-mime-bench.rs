//! Benchmarks of the message layer (issue 7's figures), each printing what it measured:
//!
//! - `analyse`: MIME analysis alone (parse, structure, envelope, search text) over the
//!   realistic mix, single-threaded: messages/s, MB/s, CPU per message.
//! - `search`: a mailbox of N messages (default 100,000) through the store API; a body
//!   substring, a subject word and a From address through the index, against a full scan of
//!   the blobs for the same terms.
//! - `smtp`: the realistic mix delivered over SMTP to a running server (one connection per
//!   message, S sessions): messages/s, MB/s, and the server's CPU per message.
//! - `bombs`: each MIME bomb delivered over SMTP: time to the reply, server memory after.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tern_message::mime::{analyse, fold_case, MimeLimits};
use tern_store::{NewMessage, Stores, TextField};
use tern_store_sqlite::{SqliteOptions, SqliteStore};
use tern_testkit::mime_corpus::{
    mime_bombs, mix_message, search_message, RARE_BODY_WORD, RARE_SENDER, RARE_SUBJECT_WORD,
};
use tern_types::{Address, Domain, Flags, MailboxId, Uid};

#[derive(Debug, Parser)]
#[command(
    about = "Message layer benchmarks: analysis, search, SMTP with the realistic mix, MIME bombs"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// MIME analysis alone over the realistic mix.
    Analyse {
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
    },
    /// Text search on a large mailbox, index against full scan.
    Search {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// Where the store goes (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The realistic mix over SMTP to a running server.
    Smtp {
        /// The server's SMTP address.
        #[arg(long)]
        addr: SocketAddr,
        /// The recipient (a local account).
        #[arg(long)]
        to: String,
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        #[arg(long, default_value_t = 8)]
        sessions: usize,
        /// The server's process id, for its CPU time.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Each MIME bomb over SMTP to a running server.
    Bombs {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        to: String,
        #[arg(long)]
        server_pid: Option<u32>,
        /// How far past the default limits (1: a few hundred KiB each).
        #[arg(long, default_value_t = 1)]
        scale: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Analyse { messages } => bench_analyse(messages),
        Cmd::Search { messages, dir } => bench_search(messages, dir).await?,
        Cmd::Smtp {
            addr,
            to,
            messages,
            sessions,
            server_pid,
        } => bench_smtp(addr, &to, messages, sessions, server_pid).await,
        Cmd::Bombs {
            addr,
            to,
            server_pid,
            scale,
        } => bench_bombs(addr, &to, server_pid, scale).await,
    }
    Ok(())
}

/// CPU seconds a process has used (user + system).
fn process_cpu(pid: u32) -> Option<f64> {
    tern_testkit::process::cpu_ticks(pid).map(|t| t as f64 / 100.0)
}

/// CPU seconds this process has used.
fn own_cpu() -> f64 {
    process_cpu(std::process::id()).unwrap_or(0.0)
}

fn bench_analyse(messages: usize) {
    let limits = MimeLimits::default();
    let mut bytes = 0usize;
    let mut busy = Duration::ZERO;
    let cpu = own_cpu();
    for i in 0..messages {
        let message = mix_message(i);
        bytes += message.len();
        let start = Instant::now();
        let analysis = analyse(&message, &limits);
        busy += start.elapsed();
        std::hint::black_box(analysis);
    }
    let secs = busy.as_secs_f64();
    println!(
        "analyse: {messages} messages, {:.1} MB (realistic mix): {:.0} msgs/s, {:.0} MB/s, {:.1} µs/msg (process CPU incl. generation {:.1} s)",
        bytes as f64 / 1e6,
        messages as f64 / secs,
        bytes as f64 / 1e6 / secs,
        secs * 1e6 / messages as f64,
        own_cpu() - cpu
    );
}

async fn bench_search(messages: usize, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().join("store"));
    let store = SqliteStore::open(&dir, SqliteOptions::default())?;
    let stores = store.stores();
    stores
        .directory
        .add_domain(&Domain::parse("example.test")?)
        .await?;
    let account = stores
        .directory
        .add_account(&Address::parse("alice@example.test")?, "x", 0)
        .await?;
    let inbox = stores.mailboxes.mailbox(account, "INBOX").await?.id;
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (stores, next) = (stores.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages {
                    return;
                }
                let blob = stores.blobs.stage(search_message(i)).await.expect("stage");
                let message = NewMessage {
                    blob,
                    prefix: Vec::new(),
                    flags: Flags::new(),
                    internal_date: 0,
                };
                stores
                    .mailboxes
                    .append(inbox, message)
                    .await
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let appended = start.elapsed();
    while store.index_backlog().await? > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "search: {messages} messages appended in {:.1} s ({:.0}/s, structure recorded), all indexed {:.1} s later ({:.0}/s)",
        appended.as_secs_f64(),
        messages as f64 / appended.as_secs_f64(),
        (start.elapsed() - appended).as_secs_f64(),
        messages as f64 / (start.elapsed() - appended).as_secs_f64()
    );
    let queries = [
        (
            "body substring",
            TextField::Body,
            RARE_BODY_WORD.0,
            RARE_BODY_WORD.1,
        ),
        (
            "subject word",
            TextField::Subject,
            RARE_SUBJECT_WORD.0,
            RARE_SUBJECT_WORD.1,
        ),
        (
            "From address",
            TextField::From,
            RARE_SENDER.0,
            RARE_SENDER.1,
        ),
    ];
    for (what, field, term, every) in queries {
        let mut times = Vec::new();
        let mut found = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            found = stores.mailboxes.search_text(inbox, field, term).await?;
            times.push(t.elapsed());
        }
        times.sort();
        let scan = Instant::now();
        let scanned = scan_blobs(&stores, inbox, messages, term).await?;
        let scan_time = scan.elapsed();
        assert!(
            scanned.iter().all(|u| found.contains(u)),
            "the index missed what a scan finds"
        );
        println!(
            "search {what:<15} {term:?}: {} hits (expected ~{}), index median {:.2} ms (max {:.2}), full scan of the blobs {:.0} ms",
            found.len(),
            messages / every,
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
            scan_time.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// What a server without an index does: read every message and look for the term in it
/// (lower-cased, raw bytes: a lower bound, since it decodes nothing).
async fn scan_blobs(
    stores: &Stores,
    mailbox: MailboxId,
    messages: usize,
    term: &str,
) -> anyhow::Result<Vec<Uid>> {
    let needle = fold_case(term).into_bytes();
    let finder = memchr::memmem::Finder::new(&needle);
    let mut hits = Vec::new();
    for uid in 1..=messages as u32 {
        let bytes = stores.mailboxes.read_message(mailbox, Uid(uid)).await?;
        if finder.find(&bytes.to_ascii_lowercase()).is_some() {
            hits.push(Uid(uid));
        }
    }
    Ok(hits)
}

async fn bench_smtp(
    addr: SocketAddr,
    to: &str,
    messages: usize,
    sessions: usize,
    server_pid: Option<u32>,
) {
    let cpu_before = server_pid.and_then(process_cpu);
    let next = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..sessions {
        let (next, bytes, to) = (next.clone(), bytes.clone(), to.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages {
                    return;
                }
                let message = mix_message(i);
                bytes.fetch_add(message.len(), Ordering::Relaxed);
                tern_testkit::smtp_client::deliver(
                    addr,
                    "bench@remote.example",
                    &[&to],
                    &[message],
                )
                .await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("session");
    }
    let secs = start.elapsed().as_secs_f64();
    let total = bytes.load(Ordering::Relaxed) as f64;
    print!(
        "smtp mix: {messages} messages, {:.1} MB, {sessions} sessions: {:.0} msgs/s, {:.1} MB/s",
        total / 1e6,
        messages as f64 / secs,
        total / 1e6 / secs
    );
    match (cpu_before, server_pid.and_then(process_cpu)) {
        (Some(a), Some(b)) => {
            println!(", server CPU {:.2} ms/msg", (b - a) * 1e3 / messages as f64)
        }
        _ => println!(),
    }
}

async fn bench_bombs(addr: SocketAddr, to: &str, server_pid: Option<u32>, scale: usize) {
    for (name, bomb) in mime_bombs(scale) {
        let cpu = server_pid.and_then(process_cpu);
        let start = Instant::now();
        tern_testkit::smtp_client::deliver(
            addr,
            "bomb@remote.example",
            &[to],
            std::slice::from_ref(&bomb),
        )
        .await;
        let took = start.elapsed();
        let cpu_used = match (cpu, server_pid.and_then(process_cpu)) {
            (Some(a), Some(b)) => format!(", server CPU {:.0} ms", (b - a) * 1e3),
            _ => String::new(),
        };
        let memory = server_pid
            .and_then(tern_testkit::process::memory_kib)
            .map(|(peak, rss)| format!(", server RSS {rss} KiB (peak {peak} KiB)"))
            .unwrap_or_default();
        println!(
            "bomb {name:<24} {:>8} KiB: answered 250 in {:.0} ms{cpu_used}{memory}",
            bomb.len() / 1024,
            took.as_secs_f64() * 1e3
        );
    }
}
