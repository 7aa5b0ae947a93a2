//! The command line: `tern serve`, `tern config check`, and the admin subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tern_config::Config;
use tern_store::AliasSource;
use tern_types::{Address, Domain};

use crate::admin;

#[derive(Debug, Parser)]
#[command(
    name = "tern",
    version,
    about = "A complete mail server in one binary: SMTP, submission, IMAP and POP3",
    long_about = "A complete mail server in one binary: SMTP, submission, IMAP and POP3.\n\n\
                  Without --config every command uses the built-in default: data in ./tern-data, \
                  every protocol on 127.0.0.1 at development ports (SMTP 2525, submission 2587, \
                  submissions 2465, IMAP 2143, IMAPS 2993, POP3 2110, POP3S 2995)."
)]
pub struct Cli {
    /// The configuration file (see tern.example.toml). Without it: the built-in default.
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "FILE",
        env = "TERN_CONFIG"
    )]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Work with the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the domains this server receives mail for.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Manage accounts (mailboxes with a password).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage aliases: an address (or a whole domain, `@example.org`) delivered to accounts.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Look at and act on mail waiting in the queue (or kept there after a failure).
    #[command(subcommand)]
    Queue(QueueCommand),
    /// DKIM keys (RFC 6376) that sign the mail a domain sends.
    #[command(subcommand)]
    Dkim(DkimCommand),
}

#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Create signing keys for a local domain (Ed25519 and RSA-2048 by default) and print
    /// the DNS TXT records to publish. Mail the domain sends is signed with every key it has.
    Generate {
        domain: Domain,
        /// The selector: the records go at SELECTOR-ed25519._domainkey.DOMAIN and
        /// SELECTOR-rsa._domainkey.DOMAIN (or SELECTOR._domainkey.DOMAIN with --algorithm).
        #[arg(long, default_value = "tern")]
        selector: String,
        /// Only this kind of key: ed25519 or rsa.
        #[arg(long, value_parser = ["ed25519", "rsa"])]
        algorithm: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A local domain to create at start if it does not exist. With the built-in default,
    /// `localhost` is created when this is not given.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<Domain>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file without starting the server; prints what it would do.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Start receiving mail for a domain.
    Add {
        domain: Domain,
        /// Create the store in data_dir if there is none yet (a new installation, before
        /// the first `tern serve`). Without it every admin command needs an existing store.
        #[arg(long)]
        create: bool,
    },
    /// List the local domains.
    List,
    /// Stop receiving mail for a domain (it must have no accounts left; its aliases go too).
    Remove { domain: Domain },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from standard input when it is not a
    /// terminal (one line), and prompted for otherwise; never from the command line.
    Add {
        address: Address,
        /// Storage limit, such as 500M or 2G (K, M, G, T are powers of 1024). Default: none.
        #[arg(long, value_parser = parse_size)]
        quota: Option<u64>,
    },
    /// List accounts, of one domain or of all.
    List { domain: Option<Domain> },
    /// Set an account's password (read like `user add`).
    Passwd { address: Address },
    /// Set an account's storage limit (0 for none).
    Quota {
        address: Address,
        #[arg(value_parser = parse_size)]
        size: u64,
    },
    /// Delete an account with all its mail.
    Remove { address: Address },
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Deliver mail for SOURCE to one or more accounts. SOURCE `@example.org` is the
    /// domain's catch-all: it receives mail for addresses that match nothing else.
    Add {
        source: AliasSource,
        #[arg(required = true)]
        targets: Vec<Address>,
    },
    /// List aliases, of one domain or of all.
    List { domain: Option<Domain> },
    /// Remove an alias (or a catch-all, `@example.org`).
    Remove { source: AliasSource },
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List queued messages with their sender, size and each recipient's state, attempts,
    /// next attempt and last error.
    List,
    /// Show one message: its sender, size, arrival, each recipient's state, attempts, next
    /// attempt and last error, and the message's header block (trace fields included).
    Show {
        /// The id `tern queue list` shows.
        id: i64,
    },
    /// Make every recipient of a message that is not delivered due now, failed ones included
    /// (after fixing what made them fail); a running server takes it within 30 seconds.
    Retry {
        /// The id `tern queue list` shows.
        id: i64,
    },
    /// Give up on a message now: every recipient not yet delivered fails, and the sender gets
    /// a delivery status notification (as when the maximum queue age is reached). A running
    /// server sends it within 30 seconds.
    Bounce {
        /// The id `tern queue list` shows.
        id: i64,
    },
    /// Remove a message from the queue (its recipients not yet delivered never get it).
    Remove {
        /// The id `tern queue list` shows (also the "queued as" id of the SMTP reply).
        id: i64,
    },
}

/// "500M" -> 524288000. Plain numbers are bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, factor) = match text.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&text[..text.len() - 1], 1u64 << 10),
        Some('M') => (&text[..text.len() - 1], 1 << 20),
        Some('G') => (&text[..text.len() - 1], 1 << 30),
        Some('T') => (&text[..text.len() - 1], 1 << 40),
        _ => (text, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("{text:?} is not a size such as 1048576, 500M or 2G"))
}

/// Loads `--config`, or the built-in default without it.
pub fn load_config(path: Option<&PathBuf>) -> Result<Config, tern_config::ConfigError> {
    match path {
        Some(p) => tern_config::load(p),
        None => Ok(Config::embedded()),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tern: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(cli.config.as_ref())?;
    match cli.command {
        Command::Serve(args) => {
            crate::logging::init(&config.log_level);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(crate::serve::run(config, args.domain))
        }
        Command::Config(ConfigCommand::Check) => {
            print!("{}", admin::check_config(&config)?);
            Ok(())
        }
        command => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(admin::run(&config, command))
        }
    }
}
