//! The scenario the tests of offline-sync clients (isync's mbsync, offlineimap) share: a
//! thousand messages of varied MIME synced down to a local Maildir, then flags, deletions and
//! a new message made on each side, then flags taken off on each side. After every sync both
//! sides must hold the same messages, with the same flags and the same bytes (once line ends
//! are LF and what the client itself changes in messages is taken out); the test keeps its
//! own account of what they should hold, so a change that is lost on the way fails it
//! whichever side lost it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use tern_config::Protocol;
use tern_testkit::mime_corpus::varied_message;
use tern_testkit::{inbox_of, run_client, TestServer, TEST_PASSWORD};
use tern_types::{Flag, Uid};

/// How many messages the mailbox starts with (the issue asks for a thousand).
pub const MESSAGES: usize = 1000;

const ALICE: &str = "alice@example.test";

/// What a client's test tells the scenario.
pub struct Client {
    /// The client's name in failure messages.
    pub name: &'static str,
    /// The INBOX Maildir the client syncs to (its cur/ and new/ exist after the first sync).
    pub inbox: PathBuf,
    /// Builds the command that runs one whole sync.
    pub sync: fn(&Path) -> Command,
    /// The argument of `sync`: the client's configuration file.
    pub config: PathBuf,
    /// Takes out of a message (LF line ends) what the client changes in the messages it
    /// copies, either way: it is applied to both sides before they are compared, so that
    /// exactly these changes are excused.
    pub normalise: fn(&[u8]) -> Vec<u8>,
}

/// A server with alice, her INBOX holding [`MESSAGES`] messages of the varied mix (nested
/// multipart, attachments, RFC 2047 and RFC 2231 names, 8-bit bodies) delivered over SMTP.
pub async fn server_with_mailbox() -> TestServer {
    let server = TestServer::start().await;
    server.add_user(ALICE).await;
    let messages: Vec<Vec<u8>> = (0..MESSAGES).map(varied_message).collect();
    let stored = crate::deliver_to_alice(&server, &messages).await;
    assert_eq!(stored.len(), MESSAGES, "every message is delivered");
    server
}

/// One message as one side holds it.
struct Held {
    /// Where it is: the Maildir file, or the UID on the server.
    place: String,
    /// Its UID, on the server.
    uid: Option<u32>,
    /// Maildir letters of its system flags (D, F, R, S, T), sorted.
    flags: String,
    bytes: Vec<u8>,
}

/// The whole scenario against `client`; `server` comes from [`server_with_mailbox`].
pub async fn run(server: &TestServer, client: &Client) {
    let mut expected: BTreeMap<String, String> = server_side(server)
        .await
        .into_keys()
        .map(|id| (id, String::new()))
        .collect();
    assert_eq!(expected.len(), MESSAGES);

    let log = sync(client).await;
    let remote = check(server, client, &expected, "after the first sync", &log).await;

    // Changes on both sides, picked by position in UID order so that they spread over the
    // mailbox and never touch the same message twice.
    let ids: Vec<String> = in_uid_order(&remote);
    let local = maildir(client);
    let pick = |every: usize, at: usize| -> Vec<String> {
        ids.iter()
            .enumerate()
            .filter(|(n, _)| n % every == at)
            .map(|(_, id)| id.clone())
            .collect()
    };
    let (seen_here, flagged_here, deleted_here) = (pick(50, 1), pick(100, 2), pick(100, 3));
    let (flagged_there, seen_there, expunged_there) = (pick(50, 5), pick(100, 6), pick(100, 7));
    for id in &seen_here {
        add_flag(&mut expected, id, 'S');
        set_local_flags(&local[id].place, &expected[id]);
    }
    for id in &flagged_here {
        add_flag(&mut expected, id, 'F');
        set_local_flags(&local[id].place, &expected[id]);
    }
    for id in &deleted_here {
        std::fs::remove_file(&local[id].place).expect("delete a Maildir file");
        expected.remove(id);
    }
    // A message written locally, with the local line ends.
    let written = lf(&varied_message(MESSAGES + 3));
    std::fs::write(
        client.inbox.join("new").join("1800000000.M1P1.tern-test"),
        &written,
    )
    .expect("write a new Maildir message");
    expected.insert(message_id(&written).expect("Message-ID"), String::new());

    change_on_server(
        server,
        &[
            (&uid_set(&remote, &flagged_there), "+FLAGS", "(\\Flagged)"),
            (&uid_set(&remote, &seen_there), "+FLAGS", "(\\Seen)"),
            (&uid_set(&remote, &expunged_there), "+FLAGS", "(\\Deleted)"),
        ],
    )
    .await;
    for id in &flagged_there {
        add_flag(&mut expected, id, 'F');
    }
    for id in &seen_there {
        add_flag(&mut expected, id, 'S');
    }
    for id in &expunged_there {
        expected.remove(id);
    }
    // And a message that arrives on the server meanwhile.
    let arrived = varied_message(MESSAGES + 4);
    tern_testkit::smtp_client::deliver(
        server.addr(Protocol::Smtp),
        "carol@remote.example",
        &[ALICE],
        std::slice::from_ref(&arrived),
    )
    .await;
    server
        .inbox(ALICE, remote.len() - expunged_there.len() + 1)
        .await;
    expected.insert(message_id(&arrived).expect("Message-ID"), String::new());

    let log = sync(client).await;
    let remote = check(
        server,
        client,
        &expected,
        "after changes on both sides",
        &log,
    )
    .await;
    // The message written locally reached the server as it was written, with the CRLF line
    // ends of IMAP.
    let id = message_id(&written).expect("Message-ID");
    let up = &remote[&id];
    assert!(
        up.bytes
            .iter()
            .enumerate()
            .all(|(n, &b)| b != b'\n' || n > 0 && up.bytes[n - 1] == b'\r'),
        "{id} as uploaded by {} has bare LF line ends",
        client.name
    );
    same_bytes(
        &format!("{id} as written locally and as uploaded by {}", client.name),
        &(client.normalise)(&written),
        &(client.normalise)(&lf(&up.bytes)),
    );

    // Flags taken off: on the server, \Seen that went up; locally, \Flagged that came down.
    let unseen_there = pick(100, 1);
    let unflagged_here = pick(100, 5);
    let local = maildir(client);
    for id in &unflagged_here {
        remove_flag(&mut expected, id, 'F');
        set_local_flags(&local[id].place, &expected[id]);
    }
    let unseen = uid_set(&remote, &unseen_there);
    change_on_server(server, &[(&unseen, "-FLAGS", "(\\Seen)")]).await;
    for id in &unseen_there {
        remove_flag(&mut expected, id, 'S');
    }

    let log = sync(client).await;
    check(
        server,
        client,
        &expected,
        "after flags were taken off",
        &log,
    )
    .await;
}

/// Runs one sync; returns the client's output for failure messages.
async fn sync(client: &Client) -> String {
    let output = run_client((client.sync)(&client.config), client.name).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The end is what explains a failure; a thousand progress lines before it do not.
    let start = text.len().saturating_sub(4000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text[start..].to_string()
}

/// Both sides hold exactly `expected` (Message-ID to Maildir flag letters), with the same
/// bytes. Returns the server's side.
async fn check(
    server: &TestServer,
    client: &Client,
    expected: &BTreeMap<String, String>,
    when: &str,
    log: &str,
) -> BTreeMap<String, Held> {
    let local = maildir(client);
    let remote = server_side(server).await;
    let mut problems = String::new();
    for (side, held) in [(client.name, &local), ("the server", &remote)] {
        let ids: BTreeSet<&String> = held.keys().collect();
        let want: BTreeSet<&String> = expected.keys().collect();
        let missing: Vec<_> = want.difference(&ids).collect();
        let extra: Vec<_> = ids.difference(&want).collect();
        if !missing.is_empty() || !extra.is_empty() {
            let _ = writeln!(
                problems,
                "{side} holds {} messages, {} expected; missing {:?}; not expected {:?}",
                ids.len(),
                want.len(),
                &missing[..missing.len().min(10)],
                &extra[..extra.len().min(10)]
            );
        }
        let wrong: Vec<String> = held
            .iter()
            .filter(|(id, m)| expected.get(*id).is_some_and(|f| *f != m.flags))
            .map(|(id, m)| format!("{id} ({}): {:?}, not {:?}", m.place, m.flags, expected[id]))
            .collect();
        if !wrong.is_empty() {
            let _ = writeln!(
                problems,
                "{} messages on {side} have the wrong flags: {:#?}",
                wrong.len(),
                &wrong[..wrong.len().min(10)]
            );
        }
    }
    assert!(
        problems.is_empty(),
        "{when}, with {}:\n{problems}\n{} said:\n{log}",
        client.name,
        client.name
    );
    for (id, here) in &local {
        let there = &remote[id];
        same_bytes(
            &format!(
                "{when}: {id} in {} and on the server ({})",
                here.place, there.place
            ),
            &(client.normalise)(&here.bytes),
            &(client.normalise)(&lf(&there.bytes)),
        );
    }
    remote
}

/// Panics at the first byte where `local` and `remote` differ, showing both around it.
fn same_bytes(what: &str, local: &[u8], remote: &[u8]) {
    if local == remote {
        return;
    }
    let at = local
        .iter()
        .zip(remote)
        .position(|(a, b)| a != b)
        .unwrap_or(local.len().min(remote.len()));
    let around = |m: &[u8]| {
        String::from_utf8_lossy(&m[at.saturating_sub(60)..(at + 80).min(m.len())]).into_owned()
    };
    panic!(
        "{what}: not the same bytes (once normalised); first difference at {at} of {} and {}:\n\
         local:  {:?}\nserver: {:?}",
        local.len(),
        remote.len(),
        around(local),
        around(remote)
    );
}

/// CRLF line ends made LF, as Maildir files have them.
fn lf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    for (n, &b) in message.iter().enumerate() {
        if !(b == b'\r' && message.get(n + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// `message` without the header fields named in `fields` (LF line ends, continuation lines
/// included).
pub fn without_fields(message: &[u8], fields: &[&str]) -> Vec<u8> {
    let end = find(message, b"\n\n").map_or(message.len(), |at| at + 1);
    let mut out = Vec::with_capacity(message.len());
    let mut dropping = false;
    for line in message[..end].split_inclusive(|&b| b == b'\n') {
        let continued = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continued {
            dropping = fields.iter().any(|f| {
                line.len() > f.len()
                    && line[..f.len()].eq_ignore_ascii_case(f.as_bytes())
                    && line[f.len()] == b':'
            });
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&message[end..]);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The Message-ID field's value, from the header.
fn message_id(message: &[u8]) -> Option<String> {
    let lines = lf(message);
    let end = find(&lines, b"\n\n").unwrap_or(lines.len());
    String::from_utf8_lossy(&lines[..end])
        .lines()
        .find_map(|l| {
            l.get(..11)
                .filter(|name| name.eq_ignore_ascii_case("message-id:"))
                .map(|_| l[11..].trim().to_string())
        })
}

/// The client's INBOX Maildir: every message of cur/ and new/ by Message-ID.
fn maildir(client: &Client) -> BTreeMap<String, Held> {
    let mut held = BTreeMap::new();
    for sub in ["cur", "new"] {
        let dir = client.inbox.join(sub);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{} made no {}: {e}", client.name, dir.display()));
        for entry in entries {
            let path = entry.expect("Maildir entry").path();
            let name = path
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let flags = name
                .split_once(":2,")
                .map(|(_, info)| sorted(info.chars().filter(char::is_ascii_uppercase)))
                .unwrap_or_default();
            let bytes = std::fs::read(&path).expect("read a Maildir file");
            let id = message_id(&bytes)
                .unwrap_or_else(|| panic!("{} has no Message-ID", path.display()));
            let place = path.display().to_string();
            if let Some(twin) = held.insert(
                id.clone(),
                Held {
                    place,
                    uid: None,
                    flags,
                    bytes,
                },
            ) {
                panic!(
                    "{id} is twice in the Maildir: {} and {}",
                    twin.place,
                    path.display()
                );
            }
        }
    }
    held
}

/// Alice's INBOX on the server, by Message-ID.
async fn server_side(server: &TestServer) -> BTreeMap<String, Held> {
    let stores = server.stores();
    let inbox = inbox_of(&stores, ALICE).await;
    let records = stores
        .mailboxes
        .messages(inbox.id, Uid(1))
        .await
        .expect("INBOX messages");
    let mut held = BTreeMap::new();
    for record in records {
        let bytes = stores
            .mailboxes
            .read_message(inbox.id, record.uid)
            .await
            .expect("read a message");
        let id =
            message_id(&bytes).unwrap_or_else(|| panic!("UID {} has no Message-ID", record.uid.0));
        let flags = sorted(
            [
                (Flag::Draft, 'D'),
                (Flag::Flagged, 'F'),
                (Flag::Answered, 'R'),
                (Flag::Seen, 'S'),
                (Flag::Deleted, 'T'),
            ]
            .into_iter()
            .filter(|(flag, _)| record.flags.contains(flag))
            .map(|(_, letter)| letter),
        );
        let place = format!("UID {}", record.uid.0);
        if let Some(twin) = held.insert(
            id.clone(),
            Held {
                place,
                uid: Some(record.uid.0),
                flags,
                bytes,
            },
        ) {
            panic!(
                "{id} is twice on the server: {} and UID {}",
                twin.place, record.uid.0
            );
        }
    }
    held
}

/// The Message-IDs of the server's side in UID order.
fn in_uid_order(remote: &BTreeMap<String, Held>) -> Vec<String> {
    let mut ids: Vec<(Option<u32>, &String)> = remote.iter().map(|(id, m)| (m.uid, id)).collect();
    ids.sort();
    ids.into_iter().map(|(_, id)| id.clone()).collect()
}

/// The UIDs of `ids` on the server's side, as an IMAP sequence set.
fn uid_set(remote: &BTreeMap<String, Held>, ids: &[String]) -> String {
    ids.iter()
        .filter_map(|id| remote[id].uid.map(|uid| uid.to_string()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Changes made by another client over IMAP (Python's imaplib; login in the clear is allowed
/// on loopback): a UID STORE for each (UIDs, operation, flags), then EXPUNGE.
async fn change_on_server(server: &TestServer, stores: &[(&str, &str, &str)]) {
    let script = r#"
import imaplib, sys
imap = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
imap.login("alice@example.test", sys.argv[2])
typ, data = imap.select("INBOX")
assert typ == "OK", data
args = sys.argv[3:]
for uids, op, flags in zip(args[0::3], args[1::3], args[2::3]):
    typ, data = imap.uid("STORE", uids, op, flags)
    assert typ == "OK", (uids, op, flags, data)
typ, data = imap.expunge()
assert typ == "OK", data
imap.logout()
"#;
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(script)
        .arg(server.addr(Protocol::Imap).port().to_string())
        .arg(TEST_PASSWORD);
    for (uids, op, flags) in stores {
        command.args([uids, op, flags]);
    }
    run_client(command, "python3 imaplib").await;
}

/// Gives the Maildir file at `path` exactly the flags `letters` (moving it to cur/, as a
/// mail reader does).
fn set_local_flags(path: &str, letters: &str) {
    let path = Path::new(path);
    let name = path
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    let base = name
        .split_once(":2,")
        .map_or(name.as_str(), |(base, _)| base);
    let cur = path
        .parent()
        .and_then(Path::parent)
        .expect("in a Maildir")
        .join("cur");
    std::fs::rename(path, cur.join(format!("{base}:2,{letters}"))).expect("rename a Maildir file");
}

fn sorted(letters: impl Iterator<Item = char>) -> String {
    let mut letters: Vec<char> = letters.collect();
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

fn add_flag(expected: &mut BTreeMap<String, String>, id: &str, letter: char) {
    let flags = expected.get_mut(id).expect("an expected message");
    *flags = sorted(flags.chars().chain([letter]));
}

fn remove_flag(expected: &mut BTreeMap<String, String>, id: &str, letter: char) {
    let flags = expected.get_mut(id).expect("an expected message");
    flags.retain(|c| c != letter);
}
