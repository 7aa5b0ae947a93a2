//! `testdata/messages/*.eml`, each with its golden file `testdata/mime-golden/<name>.txt`:
//! the stored structure, and the BODYSTRUCTURE and ENVELOPE an IMAP4rev1 client will see.
//! The golden files were reviewed by hand against RFC 9051 §7.5.2 and §9. After a deliberate
//! change, `TERN_BLESS=1 cargo test -p tern-message` rewrites them: review the diff.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use tern_message::mime::{
    analyse, body_structure, check_layout, imap_envelope, ImapStrings, MimeLimits, Part, PartBody,
};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The corpus messages (`testdata/messages/*.eml`), in name order.
fn corpus() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_root().join("testdata/messages"))
        .expect("testdata/messages")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 20, "the corpus is missing");
    paths
}

fn describe(part: &Part, section: &str, out: &mut String) {
    let _ = write!(
        out,
        "{section:<8} {}/{} header {}..{} body {}..{}",
        part.media_type,
        part.media_subtype,
        part.header_start,
        part.body_start,
        part.body_start,
        part.body_end
    );
    if let Some(lines) = part.lines {
        let _ = write!(out, " lines {lines}");
    }
    let _ = write!(out, " decoded {}", part.decoded_size);
    if let Some(e) = &part.encoding {
        let _ = write!(out, " cte {e:?}");
    }
    for p in &part.params {
        let _ = write!(out, " {}={:?}", p.name, p.value);
    }
    if let Some(d) = &part.disposition {
        let _ = write!(out, " disposition {}", d.kind);
    }
    if let Some(f) = &part.filename {
        let _ = write!(out, " filename {f:?}");
    }
    if part.truncated {
        out.push_str(" TRUNCATED");
    }
    out.push('\n');
    match &part.body {
        PartBody::Leaf => {}
        PartBody::Multipart(children) => {
            for (i, child) in children.iter().enumerate() {
                let s = if section.is_empty() {
                    format!("{}", i + 1)
                } else {
                    format!("{section}.{}", i + 1)
                };
                describe(child, &s, out);
            }
        }
        PartBody::Message(nested) => {
            let _ = writeln!(
                out,
                "{:<8} encapsulated: subject {:?} from {:?}",
                "", nested.envelope.subject, nested.envelope.from
            );
            let s = if section.is_empty() {
                "(msg)".to_string()
            } else {
                format!("{section}.(msg)")
            };
            describe(&nested.root, &s, out);
        }
    }
}

/// The golden text of one message.
fn golden_of(blob: &[u8]) -> String {
    let analysis = analyse(blob, &MimeLimits::default());
    let meta = &analysis.meta;
    check_layout(meta, blob).unwrap_or_else(|e| panic!("layout: {e}"));
    let strings = ImapStrings { utf8: false };
    let mut out = String::new();
    out.push_str("== structure\n");
    describe(&meta.root, "", &mut out);
    let _ = writeln!(out, "truncated {}", meta.truncated);
    let rendered = |write: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = Vec::new();
        write(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    out.push_str("== BODYSTRUCTURE\n");
    out.push_str(&rendered(&|b| body_structure(b, meta, true, strings)));
    out.push_str("\n== BODY\n");
    out.push_str(&rendered(&|b| body_structure(b, meta, false, strings)));
    out.push_str("\n== ENVELOPE\n");
    out.push_str(&rendered(&|b| imap_envelope(b, meta, strings)));
    out.push_str("\n== sort keys\n");
    let s = &meta.sort;
    let _ = writeln!(out, "sent_date {:?}", s.sent_date);
    let _ = writeln!(out, "base_subject {:?}", s.base_subject);
    let _ = writeln!(out, "from {:?}", s.from);
    let _ = writeln!(out, "to {:?}", s.to);
    let _ = writeln!(out, "cc {:?}", s.cc);
    let _ = writeln!(out, "message_id {:?}", s.message_id);
    let _ = writeln!(out, "references {:?}", s.references);
    let _ = writeln!(out, "has_attachments {}", s.has_attachments);
    let _ = writeln!(out, "preview {:?}", s.preview);
    out.push_str("== search text\n");
    let t = &analysis.text;
    let _ = writeln!(out, "subject {:?}", t.subject);
    let _ = writeln!(out, "from {:?}", t.from);
    let _ = writeln!(out, "to {:?}", t.to);
    let _ = writeln!(out, "cc {:?}", t.cc);
    let _ = writeln!(out, "body {:?}", t.body);
    out
}

#[test]
fn corpus_matches_its_golden_files() {
    let root = repo_root();
    let golden_dir = root.join("testdata/mime-golden");
    let bless = std::env::var_os("TERN_BLESS").is_some();
    let mut mismatched = Vec::new();
    for path in corpus() {
        let blob = std::fs::read(&path).expect("read message");
        let golden = golden_of(&blob);
        let stem = path
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let golden_path = golden_dir.join(format!("{stem}.txt"));
        if bless {
            std::fs::create_dir_all(&golden_dir).expect("mkdir");
            std::fs::write(&golden_path, &golden).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&golden_path)
            .unwrap_or_else(|e| panic!("{}: {e}", golden_path.display()));
        if expected != golden {
            eprintln!("--- {stem}: expected\n{expected}\n--- got\n{golden}");
            mismatched.push(stem);
        }
    }
    assert!(mismatched.is_empty(), "differ from golden: {mismatched:?}");
}

#[test]
fn stored_form_round_trips() {
    for path in corpus() {
        let blob = std::fs::read(path).expect("read");
        let meta = analyse(&blob, &MimeLimits::default()).meta;
        let decoded = tern_message::mime::MessageMeta::decode(&meta.encode()).expect("decodes");
        assert_eq!(decoded, meta);
    }
}
