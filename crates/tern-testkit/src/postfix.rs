//! A private, throw-away Postfix instance for interoperability tests: a test starts one with
//! [`PostfixInstance::start`], sends it mail over SMTP, and Postfix relays that mail to the
//! peers the test names (Tern, or a sink) with no DNS. Dropping the instance stops it and
//! removes its directory.
//!
//! # How the instance is kept private (Postfix 3.7)
//! Everything lives in one temporary directory, `tern-postfix-XXXX/`:
//! `conf/` (`main.cf`, `master.cf`, `transport`), `queue/` (queue_directory), `data/`
//! (data_directory) and `maillog` (maillog_file, written by the instance's own postlogd).
//! The instance runs through the ordinary command with another configuration directory:
//! `postfix -c <dir>/conf start`, and `postfix -c <dir>/conf stop` when dropped. The instance
//! takes its configuration from `<dir>/conf` alone. Of `/etc/postfix` it only reads the
//! installed `postfix-files` and `dynamicmaps.cf`, checks owners there (warnings only), and
//! asks the default configuration for one parameter: `postfix-script` and `post-install` run
//! `postconf -c /etc/postfix -h multi_instance_directories` to decide whether shared files are
//! theirs to create (they find them present and change nothing). Nothing under `/etc/postfix`
//! is written, the instance's daemons read only `dynamicmaps.cf` there (checked with strace),
//! and the system instance may be running, stopped or reconfigured meanwhile.
//!
//! * `alternate_config_directories` in the default `main.cf` is not needed: Postfix checks it
//!   only for a non-default directory passed by an unprivileged user (set-gid `postqueue`,
//!   `postdrop`). Tests run as root and submit over SMTP, never through `sendmail`.
//! * `postfix start-fg` and `master -i` were no better: `-i` is refused unless master is PID 1,
//!   and `start-fg` otherwise runs the same `master` under `postfix-script`, blocking.
//!   `postfix start` returns once master has initialised (it runs `master -w`), listeners bound.
//! * `postfix start` creates the queue subdirectories and `data/` with the owners Postfix wants
//!   (`post-install create-missing`); only `queue/` itself must exist first, as the command
//!   changes into it before anything else. No `set-permissions`, which would also touch the
//!   installed program files.
//! * Each instance has a unique `multi_instance_name` (`postfix-tern-<pid>-<n>`), which is also
//!   its log tag, and its own lock (`data/master.lock`) and pid file, so instances started by
//!   tests running in parallel do not see one another. `multi_instance_enable` stays off: no
//!   `postmulti` registration, which would edit the default `main.cf`.
//! * `inet_interfaces = all`: Postfix refuses an address no interface carries (Linux routes all
//!   of 127.0.0.0/8 to `lo` but only 127.0.0.1 is assigned), so the one listener is the explicit
//!   `IP:PORT inet` line in `master.cf`. There is no port-25 listener, and outgoing SMTP binds
//!   to the listener's address (`smtp_bind_address`), so a peer sees mail from that address.
//!
//! # Delivery
//! `relay_domains` are accepted from 127.0.0.0/8 (`permit_mynetworks`); `transport` maps each
//! to `smtp:[ip]:port` (brackets: no MX lookup), and `smtp_dns_support_level = disabled`. Any
//! other destination, including a relay domain without a transport entry, fails at once through
//! the `error` transport rather than looking anything up. Retries are fast (1–2 s) so tests can
//! watch a deferral clear. Outgoing TLS is opportunistic (`may`, unverified: Tern's test
//! certificate is self-signed) and logged (`smtp_tls_loglevel = 1`); incoming TLS is off.
//!
//! # Caveats
//! Starting takes 0.5 s on an idle 2-core machine and 2–3 s when several start at once or a
//! build runs: most of it is `postfix-script`'s integrity checks, shell loops over
//! `postfix-files` (the `quick-start` file that skips them would also skip creating the queue
//! directories). Stopping takes about 50 ms. An instance whose test process
//! is killed (SIGKILL) outlives it: its master is not a child of the test. Stop it with
//! `postfix -c /tmp/tern-postfix-XXXX/conf stop`. The readiness probe shows in the log as one
//! connection that closes without a command.
//!
//! # Security
//! Test code: listens only on the given 127.0.0.0/8 address; relays only for 127.0.0.0/8.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// What the instance listens on, accepts and relays where.
#[derive(Debug, Clone, Copy)]
pub struct PostfixSetup<'a> {
    /// The smtpd listener, e.g. `127.0.0.2:<port>`: a 127.0.0.0/8 address and a real port
    /// (see [`free_loopback_addr`]). Outgoing mail also comes from this address.
    pub listen: SocketAddr,
    /// Domains it accepts mail for and relays (`relay_domains`).
    pub relay_domains: &'a [&'a str],
    /// Where mail for each domain goes (`domain` → `smtp:[ip]:port`), so no DNS is needed.
    pub transport: &'a [(&'a str, SocketAddr)],
    /// `myhostname`, also the EHLO name it sends.
    pub myhostname: &'a str,
}

/// A running private Postfix; dropping it stops Postfix and removes its directory.
#[derive(Debug)]
pub struct PostfixInstance {
    dir: tempfile::TempDir,
    postfix: PathBuf,
    listen: SocketAddr,
}

/// How long `start` waits for the listener after `postfix start` returned.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Queue directories that hold messages (not the per-message logs in bounce/defer/trace).
const MESSAGE_QUEUES: [&str; 5] = ["maildrop", "incoming", "active", "deferred", "hold"];

impl PostfixInstance {
    /// Writes the configuration, starts Postfix and waits until its listener accepts
    /// connections. `None`, with the reason on stderr, when the test cannot run here (not root,
    /// Postfix not installed). Panics, showing Postfix's output and log, when Postfix is there
    /// but does not start: a test that skipped then would hide a broken setup.
    pub fn start(setup: &PostfixSetup) -> Option<Self> {
        match effective_uid() {
            Some(0) => {}
            uid => {
                eprintln!(
                    "skipped: a private Postfix instance needs root (effective uid {})",
                    uid.map_or_else(|| "unknown".to_string(), |u| u.to_string())
                );
                return None;
            }
        }
        let Some(postfix) = find_program("postfix") else {
            eprintln!(
                "skipped: Postfix is not installed (no `postfix` on PATH or in /usr/sbin); \
                 on Debian: apt-get install postfix"
            );
            return None;
        };
        check_setup(setup);

        let dir = tempfile::Builder::new()
            .prefix("tern-postfix-")
            .tempdir()
            .expect("temporary directory for Postfix");
        // Postfix's daemons drop to the `postfix` user and open paths under here (data/, the
        // log): the directory must be searchable by them, not root's private 0700.
        set_mode(dir.path(), 0o755);
        let conf = dir.path().join("conf");
        std::fs::create_dir(&conf).expect("create Postfix conf dir");
        // Postfix changes into queue_directory before creating anything: it must exist, owned
        // by root as Postfix wants it. data/ and the queue subdirectories Postfix creates.
        std::fs::create_dir(dir.path().join("queue")).expect("create Postfix queue dir");
        std::fs::write(conf.join("main.cf"), main_cf(dir.path(), setup)).expect("write main.cf");
        std::fs::write(conf.join("master.cf"), master_cf(setup.listen)).expect("write master.cf");
        std::fs::write(conf.join("transport"), transport(setup.transport))
            .expect("write transport");

        let instance = Self {
            dir,
            postfix,
            listen: setup.listen,
        };
        let output = instance.postfix_command("start");
        if !output.status.success() {
            panic!(
                "postfix -c {} start failed ({}):\n{}{}\nits log:\n{}",
                instance.config_dir().display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                instance.log()
            );
        }
        // `postfix start` waits for master's initialisation, so this normally succeeds at once;
        // polling guards against a slow machine rather than trusting that.
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        while TcpStream::connect_timeout(&setup.listen, Duration::from_millis(500)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Postfix started but {} accepts no connections after {LISTEN_TIMEOUT:?}; its log:\n{}",
                setup.listen,
                instance.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(instance)
    }

    /// The instance's mail log so far (empty before the first line). postlogd writes it from
    /// datagrams, so a line may appear a few milliseconds after the event it reports.
    pub fn log(&self) -> String {
        std::fs::read(self.dir.path().join("maillog"))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Waits until no message is queued (maildrop, incoming, active, deferred, hold), checking
    /// every 50 ms: `true` once empty, `false` if `timeout` passes first. Call it after the
    /// server accepted the mail (250 after DATA): before that the queue may still be empty.
    /// Reads the queue directories rather than running `postqueue -p`: no process per poll.
    pub fn wait_queue_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.queued() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The smtpd listener's address.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The configuration directory, for running Postfix tools on this instance
    /// (`postqueue -c DIR -p`, `postconf -c DIR`).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    /// Queue files now in the message queues.
    fn queued(&self) -> usize {
        let queue = self.dir.path().join("queue");
        MESSAGE_QUEUES
            .iter()
            .map(|name| count_files(&queue.join(name)))
            .sum()
    }

    /// Runs `postfix -c <conf> <action>` to completion, output captured.
    fn postfix_command(&self, action: &str) -> Output {
        Command::new(&self.postfix)
            .arg("-c")
            .arg(self.config_dir())
            .arg(action)
            // The instance's directory comes from -c only, never from the caller's environment.
            .env_remove("MAIL_CONFIG")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.postfix.display()))
    }
}

impl Drop for PostfixInstance {
    /// `postfix stop` signals master, which stops its children, and waits (forcing it after
    /// 5 s) until master's lock is released; only then is the directory removed.
    fn drop(&mut self) {
        let output = Command::new(&self.postfix)
            .arg("-c")
            .arg(self.config_dir())
            .arg("stop")
            .env_remove("MAIL_CONFIG")
            .output();
        match output {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!(
                "postfix -c {} stop failed ({}): {}{}",
                self.config_dir().display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(e) => eprintln!("cannot run {}: {e}", self.postfix.display()),
        }
    }
}

/// A port that was free a moment ago on `ip` (a 127.0.0.0/8 address), for a listener that
/// must be named before it starts, as Postfix's is. Another process may take it meanwhile;
/// on a test machine that is rare.
pub fn free_loopback_addr(ip: Ipv4Addr) -> SocketAddr {
    assert!(ip.is_loopback(), "tests use only 127.0.0.0/8, not {ip}");
    TcpListener::bind((ip, 0))
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|e| panic!("no free port on {ip}: {e}"))
}

/// Instances started by this process so far: with the process id, a unique instance name.
static INSTANCES: AtomicU32 = AtomicU32::new(0);

/// The instance's `main.cf`. Every value is written out, not inherited: Debian's compiled-in
/// defaults (e.g. `alias_maps = hash:/etc/aliases`) point at the system instance's files.
fn main_cf(dir: &Path, setup: &PostfixSetup) -> String {
    let name = format!(
        "postfix-tern-{}-{}",
        std::process::id(),
        INSTANCES.fetch_add(1, Ordering::Relaxed)
    );
    let dir = dir.display();
    let relay_domains = setup.relay_domains.join(", ");
    let mut cf = String::new();
    let mut set = |key: &str, value: &str| {
        // Infallible: writing to a String.
        let _ = writeln!(cf, "{key} = {value}");
    };
    set("compatibility_level", "3.6");
    set("multi_instance_name", &name);
    set("queue_directory", &format!("{dir}/queue"));
    set("data_directory", &format!("{dir}/data"));
    set("maillog_file", &format!("{dir}/maillog"));
    set("maillog_file_prefixes", &dir.to_string());
    set("myhostname", setup.myhostname);
    set("myorigin", "$myhostname");
    set("smtp_helo_name", "$myhostname");
    set("mydestination", "");
    set("local_recipient_maps", "");
    set("alias_maps", "");
    set("alias_database", "");
    set("biff", "no");
    set("inet_interfaces", "all");
    set("inet_protocols", "ipv4");
    set("smtp_bind_address", &setup.listen.ip().to_string());
    set("mynetworks", "127.0.0.0/8");
    set(
        "smtpd_relay_restrictions",
        "permit_mynetworks, reject_unauth_destination",
    );
    set("smtpd_peername_lookup", "no");
    set("relay_domains", &relay_domains);
    set("transport_maps", &format!("texthash:{dir}/conf/transport"));
    set(
        "relay_transport",
        "error:5.4.4 no transport entry for this test domain",
    );
    set(
        "default_transport",
        "error:5.4.4 this test instance relays only its test domains",
    );
    set("smtp_dns_support_level", "disabled");
    set("smtp_tls_security_level", "may");
    set("smtp_tls_loglevel", "1");
    set("smtpd_tls_security_level", "none");
    set("queue_run_delay", "1s");
    set("minimal_backoff_time", "1s");
    set("maximal_backoff_time", "2s");
    cf
}

/// The instance's `master.cf`: the one smtpd listener and the internal services relaying
/// needs, nothing chrooted (a chroot would need copies of system files in the queue).
fn master_cf(listen: SocketAddr) -> String {
    format!(
        "{listen} inet n - n - - smtpd\n\
         pickup     unix  n - n 60    1 pickup\n\
         cleanup    unix  n - n -     0 cleanup\n\
         qmgr       unix  n - n 300   1 qmgr\n\
         tlsmgr     unix  - - n 1000? 1 tlsmgr\n\
         rewrite    unix  - - n -     - trivial-rewrite\n\
         bounce     unix  - - n -     0 bounce\n\
         defer      unix  - - n -     0 bounce\n\
         trace      unix  - - n -     0 bounce\n\
         verify     unix  - - n -     1 verify\n\
         flush      unix  n - n 1000? 0 flush\n\
         proxymap   unix  - - n -     - proxymap\n\
         proxywrite unix  - - n -     1 proxymap\n\
         smtp       unix  - - n -     - smtp\n\
         relay      unix  - - n -     - smtp\n\
         showq      unix  n - n -     - showq\n\
         error      unix  - - n -     - error\n\
         retry      unix  - - n -     - error\n\
         discard    unix  - - n -     - discard\n\
         anvil      unix  - - n -     1 anvil\n\
         scache     unix  - - n -     1 scache\n\
         postlog    unix-dgram n - n - 1 postlogd\n"
    )
}

/// The `transport` table (texthash: read as is, no `postmap`).
fn transport(entries: &[(&str, SocketAddr)]) -> String {
    entries
        .iter()
        .map(|(domain, addr)| format!("{domain} smtp:[{}]:{}\n", addr.ip(), addr.port()))
        .collect()
}

/// Panics on a setup that would write a broken or unintended configuration: a listener off
/// loopback or without a port, or a name that would split a configuration line.
fn check_setup(setup: &PostfixSetup) {
    let loopback_v4 = |addr: &SocketAddr| matches!(addr.ip(), IpAddr::V4(ip) if ip.is_loopback());
    assert!(
        loopback_v4(&setup.listen) && setup.listen.port() != 0,
        "listen must be a 127.0.0.0/8 address with a port (see free_loopback_addr), not {}",
        setup.listen
    );
    for (domain, addr) in setup.transport {
        assert!(
            loopback_v4(addr),
            "transport for {domain} must be a 127.0.0.0/8 address, not {addr}"
        );
    }
    let names = setup
        .relay_domains
        .iter()
        .chain(setup.transport.iter().map(|(domain, _)| domain))
        .chain(std::iter::once(&setup.myhostname));
    for name in names {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')),
            "{name:?} is not a plain domain name"
        );
    }
}

/// The effective uid, from `/proc/self/status` (`Uid: real effective saved fs`).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// `name` on PATH, else in /usr/sbin (not on every user's PATH, and tests may run as root
/// through a shell that left it out).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Regular files under `dir`, at any depth (deferred/ is hashed into subdirectories). A
/// directory that does not exist (yet) holds none.
fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => count_files(&entry.path()),
            Ok(kind) if kind.is_file() => 1,
            _ => 0,
        })
        .sum()
}
