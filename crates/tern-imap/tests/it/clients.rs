//! Python's imaplib: login, LIST, SELECT, FETCH of flags, sizes, structure and bodies, over
//! plain IMAP on loopback, STARTTLS and IMAPS.

use std::process::Command;

use tern_config::Protocol;
use tern_testkit::{run_client, TestServer, TEST_PASSWORD};

const MESSAGE: &[u8] = b"From: Carol <carol@remote.example>\r\nTo: alice@example.test\r\n\
Subject: Hello IMAP\r\nDate: Mon, 30 Nov 2026 12:00:00 +0000\r\nMessage-ID: <m1@remote.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nFirst line.\r\nSecond line.\r\n";

/// A server with alice and one message in her INBOX, as delivered over SMTP.
async fn server_with_mail() -> (TestServer, Vec<u8>) {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let stored = crate::deliver_to_alice(&server, &[MESSAGE.to_vec()])
        .await
        .remove(0);
    (server, stored)
}

/// Runs `script` with python3: argv[1] port, argv[2] the server's certificate, argv[3] the
/// password; its stdout is returned.
async fn python(server: &TestServer, protocol: Protocol, script: &str) -> String {
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(script)
        .arg(server.addr(protocol).port().to_string())
        .arg(server.config.data_dir.join("tls/cert.pem"))
        .arg(TEST_PASSWORD);
    let output = run_client(command, "python3 imaplib").await;
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SESSION: &str = r#"
def session(imap):
    typ, caps = imap.capability()
    print("CAPS", caps[0].decode())
    imap.login("alice@example.test", sys.argv[3])
    typ, boxes = imap.list()
    print("LIST", sorted(b.decode() for b in boxes))
    typ, data = imap.select("INBOX")
    print("EXISTS", data[0].decode())
    typ, data = imap.fetch("1", "(FLAGS UID RFC822.SIZE)")
    print("META", data[0].decode())
    typ, data = imap.uid("fetch", "1:*", "(BODY.PEEK[])")
    sys.stdout.buffer.write(b"BODY " + data[0][1] + b"\nEND\n")
    typ, data = imap.fetch("1", "(FLAGS)")
    print("AFTER-PEEK", data[0].decode())
    typ, data = imap.fetch("1", "(BODY[] BODYSTRUCTURE ENVELOPE)")
    print("STRUCTURE", data[0][0].decode() + data[1].decode())
    typ, data = imap.fetch("1", "(FLAGS)")
    print("AFTER-BODY", data[0].decode())
    imap.close()
    imap.logout()
"#;

fn check(output: &str, stored: &[u8], tls: bool) {
    let line = |key: &str| {
        output
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{output}"))
            .to_string()
    };
    assert!(line("CAPS").contains("IMAP4rev1"), "{output}");
    assert_eq!(line("CAPS").contains("STARTTLS"), !tls, "{output}");
    let list = line("LIST");
    for name in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(
            list.contains(&format!("\"/\" {name}")) || list.contains(&format!("\"/\" \"{name}\"")),
            "{name}: {list}"
        );
    }
    assert!(list.contains("\\Sent"), "special-use attributes: {list}");
    assert_eq!(line("EXISTS"), "EXISTS 1");
    let meta = line("META");
    assert!(
        meta.contains("UID 1") && meta.contains(&format!("RFC822.SIZE {}", stored.len())),
        "{meta}"
    );
    let start = output.find("BODY ").expect("BODY") + 5;
    let end = output.find("\nEND\n").expect("END");
    assert_eq!(
        &output.as_bytes()[start..end],
        stored,
        "the message byte for byte"
    );
    assert!(
        !line("AFTER-PEEK").contains("\\Seen"),
        "BODY.PEEK[] leaves \\Seen alone"
    );
    let structure = line("STRUCTURE");
    assert!(
        structure.contains("BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\")"),
        "{structure}"
    );
    assert!(
        structure.contains("\"Hello IMAP\""),
        "ENVELOPE subject: {structure}"
    );
    assert!(line("AFTER-BODY").contains("\\Seen"), "BODY[] sets \\Seen");
}

/// Each mode on a server of its own: BODY[] sets \Seen, which the next run must not find.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaplib_over_plain_loopback_starttls_and_imaps() {
    let (server, stored) = server_with_mail().await;
    let plain = format!(
        "import imaplib, sys\n{SESSION}\nsession(imaplib.IMAP4('127.0.0.1', int(sys.argv[1])))\n"
    );
    check(
        &python(&server, Protocol::Imap, &plain).await,
        &stored,
        false,
    );

    let (server, stored) = server_with_mail().await;
    let starttls = format!(
        "import imaplib, ssl, sys\n{SESSION}\nctx = ssl.create_default_context(cafile=sys.argv[2])\n\
         ctx.check_hostname = False\nimap = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))\n\
         imap.starttls(ssl_context=ctx)\nsession(imap)\n"
    );
    check(
        &python(&server, Protocol::Imap, &starttls).await,
        &stored,
        true,
    );

    let (server, stored) = server_with_mail().await;
    let imaps = format!(
        "import imaplib, ssl, sys\n{SESSION}\nctx = ssl.create_default_context(cafile=sys.argv[2])\n\
         ctx.check_hostname = False\nsession(imaplib.IMAP4_SSL('127.0.0.1', int(sys.argv[1]), ssl_context=ctx))\n"
    );
    check(
        &python(&server, Protocol::Imaps, &imaps).await,
        &stored,
        true,
    );
}

/// Changing mail with imaplib: folders (CREATE with a missing parent, RENAME, SUBSCRIBE,
/// LSUB, STATUS, DELETE), APPEND with flags, STORE, COPY and MOVE with UIDPLUS codes,
/// EXPUNGE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaplib_changes_folders_flags_and_messages() {
    let (server, stored) = server_with_mail().await;
    let script = r#"
import imaplib, sys
imap = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
imap.login("alice@example.test", sys.argv[3])
def ok(what, result):
    typ, data = result
    assert typ == "OK", (what, typ, data)
    return data
ok("create", imap.create("Projects/2026"))
typ, data = imap.create("Projects")
assert typ == "NO" and b"ALREADYEXISTS" in data[0], data
ok("rename", imap.rename("Projects/2026", "Projects/Done"))
ok("subscribe", imap.subscribe("Projects/Done"))
print("LSUB", sorted(b.decode() for b in ok("lsub", imap.lsub())))
print("LIST", sorted(b.decode() for b in ok("list", imap.list('""', "Projects/*"))))
typ, data = imap.append("Projects/Done", "(\\Flagged)", None, b"Subject: appended\r\n\r\nbody\r\n")
assert typ == "OK", data
print("APPEND", data[0].decode())
typ, data = imap.append("Nowhere", None, None, b"Subject: x\r\n\r\nx\r\n")
assert typ == "NO" and b"TRYCREATE" in data[0], data
print("STATUS", ok("status", imap.status("Projects/Done", "(MESSAGES UIDNEXT UNSEEN)"))[0].decode())
ok("select", imap.select("INBOX"))
print("STORE", ok("store", imap.store("1", "+FLAGS", "(\\Flagged $Important)"))[0].decode())
typ, data = imap.uid("copy", "1", "Projects/Done")
assert typ == "OK", data
print("COPY", data[0].decode() if data[0] else imap.untagged_responses)
typ, data = imap.uid("move", "1", "Archive")
assert typ == "OK", data
print("MOVED", imap.select("INBOX")[1][0].decode())
ok("select", imap.select("Projects/Done"))
ok("store", imap.store("1", "+FLAGS", "(\\Deleted)"))
print("EXPUNGE", ok("expunge", imap.expunge()))
typ, data = imap.fetch("1", "(BODY.PEEK[])")
sys.stdout.buffer.write(b"COPIED " + data[0][1] + b"\nEND\n")
ok("close", imap.close())
ok("delete", imap.delete("Projects/Done"))
print("AFTER", sorted(b.decode() for b in ok("list", imap.list('""', "Projects*"))))
imap.logout()
"#;
    let output = python(&server, Protocol::Imap, script).await;
    let line = |key: &str| {
        output
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{output}"))
            .to_string()
    };
    assert!(line("LSUB").contains("Projects/Done"), "{output}");
    assert!(
        line("LIST").contains("Projects/Done") && !line("LIST").contains("2026"),
        "{output}"
    );
    assert!(line("APPEND").contains("[APPENDUID "), "{output}");
    assert!(
        line("STATUS").contains("MESSAGES 1") && line("STATUS").contains("UNSEEN 1"),
        "{output}"
    );
    assert!(
        line("STORE").contains("\\Flagged") && line("STORE").contains("$Important"),
        "{output}"
    );
    assert!(line("COPY").contains("COPYUID"), "{output}");
    assert_eq!(line("MOVED"), "MOVED 0", "INBOX is empty after the MOVE");
    assert!(line("EXPUNGE").contains("1"), "{output}");
    let start = output.find("COPIED ").expect("COPIED") + 7;
    let end = output.find("\nEND\n").expect("END");
    assert_eq!(
        &output.as_bytes()[start..end],
        &stored[..],
        "the copy is the message"
    );
    assert!(!line("AFTER").contains("Done"), "{output}");
    assert!(
        line("AFTER").contains("Projects"),
        "the parent stays: {output}"
    );
    // The moved message is in Archive, flagged.
    let archive = server
        .stores()
        .mailboxes
        .mailbox(
            server
                .stores()
                .directory
                .account_auth(
                    &tern_types::Address::parse("alice@example.test").unwrap(),
                    Default::default(),
                )
                .await
                .unwrap()
                .unwrap()
                .id,
            "Archive",
        )
        .await
        .unwrap();
    assert_eq!(archive.messages, 1);
}

/// RFC 4978 COMPRESS=DEFLATE with Python's zlib (raw deflate, sync flush after each command):
/// through imaplib (a message of 300 KB back byte for byte, a second COMPRESS refused), and on
/// a raw socket a command deflated right after COMPRESS in the same packet, before the OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_deflate_with_python_zlib() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let body: String = (0..6000)
        .map(|i| format!("line {i} of a long message, compressible\r\n"))
        .collect();
    let message = format!("Subject: big\r\n\r\n{body}").into_bytes();
    let stored = crate::deliver_to_alice(&server, &[message]).await.remove(0);
    let script = r#"
import imaplib, socket, sys, zlib

imaplib.Commands['COMPRESS'] = ('AUTH', 'SELECTED')

class Deflating(imaplib.IMAP4):
    def compress(self):
        typ, data = self._simple_command('COMPRESS', 'DEFLATE')
        if typ == 'OK':
            self._out = zlib.compressobj(6, zlib.DEFLATED, -15)
            self._in = zlib.decompressobj(-15)
            self._pending = b''
        return typ, data[0].decode()
    def send(self, data):
        if hasattr(self, '_out'):
            data = self._out.compress(data) + self._out.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)
    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError('closed')
        self._pending += self._in.decompress(chunk)
    def read(self, size):
        if not hasattr(self, '_in'):
            return super().read(size)
        while len(self._pending) < size:
            self._fill()
        out, self._pending = self._pending[:size], self._pending[size:]
        return out
    def readline(self):
        if not hasattr(self, '_in'):
            return super().readline()
        while b'\n' not in self._pending:
            self._fill()
        i = self._pending.index(b'\n') + 1
        out, self._pending = self._pending[:i], self._pending[i:]
        return out

imap = Deflating('127.0.0.1', int(sys.argv[1]))
print("CAPS", imap.capability()[1][0].decode())
imap.login("alice@example.test", sys.argv[3])
print("COMPRESS", imap.compress()[0])
typ, data = imap.select("INBOX")
print("EXISTS", data[0].decode())
typ, data = imap.uid("fetch", "1", "(BODY.PEEK[])")
sys.stdout.buffer.write(b"BODY " + data[0][1] + b"\nEND\n")
print("AGAIN", *imap.compress())
imap.logout()

s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
f = s.makefile('rb')
f.readline()
s.sendall(b'p1 LOGIN alice@example.test "' + sys.argv[3].encode() + b'"\r\n')
while not f.readline().startswith(b'p1 '):
    pass
out = zlib.compressobj(6, zlib.DEFLATED, -15)
s.sendall(b'p2 COMPRESS DEFLATE\r\n' + out.compress(b'p3 NOOP\r\n') + out.flush(zlib.Z_SYNC_FLUSH))
print("RAW-OK", f.readline().decode().strip())
# Through `f`: the deflated answer may have come in with the OK line, into f's buffer.
inflate, got = zlib.decompressobj(-15), b''
while b'p3 ' not in got:
    chunk = f.read1(4096)
    if not chunk:
        raise EOFError('closed')
    got += inflate.decompress(chunk)
print("PIPELINED", got.decode().strip())
"#;
    let output = python(&server, Protocol::Imap, script).await;
    let line = |key: &str| {
        output
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{output}"))
            .to_string()
    };
    assert!(line("CAPS").contains("COMPRESS=DEFLATE"), "{output}");
    assert_eq!(line("COMPRESS"), "COMPRESS OK");
    assert_eq!(line("EXISTS"), "EXISTS 1");
    let start = output.find("BODY ").expect("BODY") + 5;
    let end = output.find("\nEND\n").expect("END");
    assert_eq!(
        &output.as_bytes()[start..end],
        stored,
        "the message byte for byte"
    );
    assert!(
        line("AGAIN").starts_with("AGAIN NO [COMPRESSIONACTIVE]"),
        "{output}"
    );
    assert_eq!(line("RAW-OK"), "RAW-OK p2 OK DEFLATE active");
    assert!(line("PIPELINED").starts_with("PIPELINED p3 OK"), "{output}");
}
