//! Issue 9's benchmark: N submitted messages of S bytes to remote recipients spread over D
//! domains, all delivered to Postfix's `smtp-sink`, timed from the first submission to the
//! sink's count reaching N (the last remote 250), for Tern and for Postfix relaying the same
//! load, interleaved in the same run.
//!
//! - Tern (`--tern`, a release build): `tern serve` with a test configuration; its outbound
//!   DNS is a real DNS server in this process (`tern_testkit::dns::TestDns`) whose domains
//!   d0.test..d{D-1}.test have MX records pointing at 127.0.0.1, where the sink listens on
//!   the configured `remote_port`. Clients log in (AUTH PLAIN) on the submission listener.
//! - Postfix: a private instance ([`tern_testkit::postfix::PostfixInstance`]) that relays the
//!   same domains to the sink through its transport map (no DNS), taking mail from 127.0.0.0/8
//!   without login, as a Postfix relay for its own network does.
//!
//! Each of `--sessions` clients keeps one connection and sends its share of the messages in
//! turn (MAIL, RCPT, DATA), as a mail client or an application with many messages does.
//! Prints one line per run and the median ratio Tern/Postfix.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tern_config::Protocol;
use tern_testkit::dns::TestDns;
use tern_testkit::postfix::{free_loopback_addr, PostfixInstance, PostfixSetup};
use tern_testkit::ChildServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(about = "Submission and relay to a sink: Tern against Postfix, end to end")]
struct Cli {
    /// The `tern` binary to measure (a release build).
    #[arg(long)]
    tern: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    #[arg(long, default_value_t = 8)]
    sessions: usize,
    #[arg(long, default_value_t = 10)]
    domains: usize,
    /// Tern/Postfix pairs, alternating which goes first.
    #[arg(long, default_value_t = 3)]
    pairs: usize,
}

/// `smtp-sink -c`: counts messages; its counter lines are `sess=N quit=N mesg=N\r`.
struct Sink {
    child: Child,
    count: Arc<AtomicU64>,
    addr: SocketAddr,
}

impl Sink {
    fn start() -> Self {
        let addr = free_loopback_addr(Ipv4Addr::LOCALHOST);
        let mut child = Command::new("smtp-sink")
            .args(["-c", "-u", "nobody", &addr.to_string(), "1024"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink (Debian's postfix package) on PATH or in /usr/sbin");
        let count = Arc::new(AtomicU64::new(0));
        let stdout = child.stdout.take().expect("sink output");
        let seen = count.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut record = Vec::new();
            while reader.read_until(b'\r', &mut record).unwrap_or(0) > 0 {
                let text = String::from_utf8_lossy(&record);
                if let Some(n) = text
                    .rsplit("mesg=")
                    .next()
                    .and_then(|n| n.trim().parse::<u64>().ok())
                {
                    seen.store(n, Ordering::Relaxed);
                }
                record.clear();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, count, addr }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message of about `size` bytes, followed by the end-of-data line.
fn message(i: usize, to: &str, size: usize) -> Vec<u8> {
    let mut text = format!(
        "From: <bench@a.test>\r\nTo: <{to}>\r\nSubject: bench {i}\r\n\
         Date: Mon, 30 Nov 2026 12:00:00 +0000\r\nMessage-ID: <bench{i}@a.test>\r\n\r\n"
    );
    let line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while text.len() < size {
        text.push_str(line);
    }
    // The end of data goes with the text: one write.
    text.push_str(".\r\n");
    text.into_bytes()
}

struct Session {
    lines: AsyncBufReader<TcpStream>,
}

impl Session {
    async fn reply(&mut self) -> String {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                panic!("connection closed after {text:?}");
            }
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return text;
            }
        }
    }

    async fn command(&mut self, line: &str, code: char) {
        let stream = self.lines.get_mut();
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
        let reply = self.reply().await;
        assert!(reply.starts_with(code), "{line}: {reply}");
    }

    async fn open(addr: SocketAddr, login: bool) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        // Small writes each wait for a reply: without this, Nagle's algorithm and delayed
        // ACKs hold each one back ~40 ms, and the client is all that is measured.
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let mut session = Self {
            lines: AsyncBufReader::new(stream),
        };
        session.reply().await;
        session.command("EHLO bench.client", '2').await;
        if login {
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode("\0bench@a.test\0bench password");
            session.command(&format!("AUTH PLAIN {token}"), '2').await;
        }
        session
    }

    async fn send(&mut self, to: &str, body: &[u8]) {
        // PIPELINING (RFC 2920): both servers offer it.
        let stream = self.lines.get_mut();
        let commands = format!("MAIL FROM:<bench@a.test>\r\nRCPT TO:<{to}>\r\nDATA\r\n");
        stream.write_all(commands.as_bytes()).await.expect("write");
        for code in ['2', '2', '3'] {
            let reply = self.reply().await;
            assert!(reply.starts_with(code), "{reply}");
        }
        let stream = self.lines.get_mut();
        stream.write_all(body).await.expect("write");
        let reply = self.reply().await;
        assert!(reply.starts_with('2'), "end of data: {reply}");
    }
}

/// Sends the load to `addr`; returns when the sink has counted every message: (seconds to
/// the last acceptance, seconds to the last delivery).
async fn run(addr: SocketAddr, login: bool, cli: &Cli, sink: &Sink) -> (f64, f64) {
    let base = sink.count();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..cli.sessions {
        let (messages, sessions, domains, size) =
            (cli.messages, cli.sessions, cli.domains, cli.size);
        tasks.push(tokio::spawn(async move {
            let mut session = Session::open(addr, login).await;
            for i in (s..messages).step_by(sessions) {
                let to = format!("u{i}@d{}.test", i % domains);
                session.send(&to, &message(i, &to, size)).await;
            }
            session.command("QUIT", '2').await;
        }));
    }
    for task in tasks {
        task.await.expect("session");
    }
    let accepted = start.elapsed().as_secs_f64();
    let target = base + cli.messages as u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while sink.count() < target {
        assert!(
            Instant::now() < deadline,
            "not all messages reached the sink"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (accepted, start.elapsed().as_secs_f64())
}

fn cpu_seconds(pid: u32) -> f64 {
    tern_testkit::process::cpu_ticks(pid).unwrap_or(0) as f64 / 100.0
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let sink = Sink::start();
    let domains: Vec<String> = (0..cli.domains).map(|d| format!("d{d}.test")).collect();

    let dns = TestDns::start().await;
    for domain in &domains {
        dns.add_mx(domain, 10, &format!("mx.{domain}")).await;
        dns.add_a(&format!("mx.{domain}"), Ipv4Addr::LOCALHOST)
            .await;
    }
    let extra = format!(
        "[outbound]\ndns_servers = [\"{}\"]\nremote_port = {}\n",
        dns.addr(),
        sink.addr.port()
    );
    let tern = ChildServer::spawn_with(&cli.tern, &extra);
    for command in [
        vec!["domain", "add", "a.test"],
        vec!["user", "add", "bench@a.test"],
    ] {
        let out = tern.cli(&command, "bench password\n");
        assert!(
            out.status.success(),
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tern_pid = tern.pid().expect("tern pid");

    let domain_refs: Vec<&str> = domains.iter().map(String::as_str).collect();
    let transport: Vec<(&str, SocketAddr)> = domain_refs.iter().map(|d| (*d, sink.addr)).collect();
    let postfix = PostfixInstance::start(&PostfixSetup {
        listen: free_loopback_addr(Ipv4Addr::new(127, 0, 0, 8)),
        relay_domains: &domain_refs,
        transport: &transport,
        myhostname: "postfix.bench.test",
    })
    .expect("a private Postfix instance (run as root with Debian's postfix)");

    println!(
        "# {} messages of {} bytes, {} sessions, {} domains, to smtp-sink at {}",
        cli.messages, cli.size, cli.sessions, cli.domains, sink.addr
    );
    let mut ratios = Vec::new();
    for pair in 0..cli.pairs {
        let mut figures = [0.0f64; 2];
        let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let (label, addr, login) = match which {
                0 => ("postfix", postfix.listen(), false),
                _ => ("tern", tern.addr(Protocol::Submission), true),
            };
            let cpu = (which == 1).then(|| cpu_seconds(tern_pid));
            let (accepted, delivered) = run(addr, login, &cli, &sink).await;
            let rate = cli.messages as f64 / delivered;
            let cpu_ms =
                cpu.map(|before| (cpu_seconds(tern_pid) - before) * 1000.0 / cli.messages as f64);
            println!(
                "RUN pair={pair} server={label} accepted_s={accepted:.2} delivered_s={delivered:.2} \
                 msgs_per_s={rate:.0}{}",
                cpu_ms.map_or(String::new(), |ms| format!(" server_cpu_ms_per_msg={ms:.2}"))
            );
            figures[which] = rate;
            // Let both queues drain and settle before the next run.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        ratios.push(figures[1] / figures[0]);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "RATIO tern/postfix msgs_per_s median={:.2} all={:?}",
        ratios[ratios.len() / 2],
        ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>()
    );
}
