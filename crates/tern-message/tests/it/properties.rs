//! Property tests: for generated messages (well-formed trees, then cut, spliced and
//! corrupted) and for random bytes, `analyse` terminates without panicking, its offsets lie
//! inside the blob and tile their parents, the tree rebuilds the blob, and the limits hold.
//! Seeded, so a failure names the case that reproduces it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_message::mime::fuzzing::{shape, TIGHT};
use tern_message::mime::{analyse, check_layout, describe, MimeLimits};

const LEAF_TYPES: [&str; 5] = [
    "text/plain; charset=utf-8",
    "text/html",
    "application/octet-stream",
    "image/png; name=\"a.png\"",
    "text/plain; charset*0*=utf-8''x; charset*1=y",
];

fn line_end(rng: &mut StdRng, crlf: bool) -> &'static str {
    if crlf || rng.gen_bool(0.05) {
        "\r\n"
    } else {
        "\n"
    }
}

/// A message (or part) of random shape, `depth` levels deep at most.
fn entity(rng: &mut StdRng, depth: u32, crlf: bool, out: &mut String) {
    let nl = line_end(rng, crlf);
    for _ in 0..rng.gen_range(0..4) {
        out.push_str(&format!(
            "X-H{}: v{}{nl}",
            rng.gen::<u8>(),
            rng.gen::<u16>()
        ));
    }
    let kind = if depth == 0 { 0 } else { rng.gen_range(0..4) };
    match kind {
        1 | 2 => {
            let boundary = format!("b{}", rng.gen::<u16>());
            let subtype = ["mixed", "alternative", "digest", "related"][rng.gen_range(0..4)];
            out.push_str(&format!(
                "Content-Type: multipart/{subtype}; boundary=\"{boundary}\"{nl}{nl}"
            ));
            if rng.gen_bool(0.3) {
                out.push_str(&format!("preamble{nl}"));
            }
            for _ in 0..rng.gen_range(0..4) {
                out.push_str(&format!("--{boundary}{nl}"));
                entity(rng, depth - 1, crlf, out);
                out.push_str(nl);
            }
            if rng.gen_bool(0.8) {
                out.push_str(&format!("--{boundary}--{nl}"));
            }
            if rng.gen_bool(0.3) {
                out.push_str(&format!("epilogue --{boundary} mid-line{nl}"));
            }
        }
        3 => {
            out.push_str(&format!("Content-Type: message/rfc822{nl}{nl}"));
            out.push_str(&format!("Subject: inner {}{nl}", rng.gen::<u16>()));
            entity(rng, depth - 1, crlf, out);
        }
        _ => {
            let ty = LEAF_TYPES[rng.gen_range(0..LEAF_TYPES.len())];
            out.push_str(&format!("Content-Type: {ty}{nl}"));
            match rng.gen_range(0..3) {
                0 => out.push_str(&format!(
                    "Content-Transfer-Encoding: base64{nl}{nl}aGVsbG8gd29ybGQ={nl}"
                )),
                1 => out.push_str(&format!(
                    "Content-Transfer-Encoding: quoted-printable{nl}{nl}caf=C3=A9 =\r\nline{nl}"
                )),
                _ => out.push_str(&format!("{nl}body {} text{nl}", rng.gen::<u32>())),
            }
        }
    }
}

/// Cuts, splices or corrupts the message at random.
fn damage(rng: &mut StdRng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.gen_range(0..4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.gen_range(0..bytes.len());
        match rng.gen_range(0..5) {
            0 => bytes.truncate(at),
            1 => bytes[at] = rng.gen(),
            2 => {
                let piece: &[u8] = [&b"\r\n--"[..], b"\n\n", b"=?utf-8?q?x?=", b"\"", b"*0*="]
                    [rng.gen_range(0..5)];
                bytes.splice(at..at, piece.iter().copied());
            }
            3 => {
                let end = (at + rng.gen_range(0..64)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {
                let end = (at + rng.gen_range(0..64)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
    bytes
}

fn check(blob: &[u8], limits: &MimeLimits, case: &str) {
    let analysis = analyse(blob, limits);
    if let Err(e) = check_layout(&analysis.meta, blob) {
        panic!("{case}: {e}\n{}", String::from_utf8_lossy(blob));
    }
    assert_eq!(
        describe(blob, limits),
        analysis.meta,
        "{case}: describe differs"
    );
    let (depth, count) = shape(&analysis.meta.root);
    // Each level of nesting is a container and what it holds: depth counts both.
    assert!(
        depth <= 2 * limits.max_depth + 2,
        "{case}: depth {depth} past {}",
        limits.max_depth
    );
    assert!(
        count <= 2 * limits.max_parts + 2,
        "{case}: {count} parts past {}",
        limits.max_parts
    );
    assert!(
        analysis.text.body.len() <= limits.max_decoded_size + 1024,
        "{case}"
    );
}

#[test]
fn generated_messages_keep_every_promise() {
    let tight = TIGHT;
    for seed in 0..3_000u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let crlf = rng.gen_bool(0.7);
        let mut text = String::new();
        let depth = rng.gen_range(0..6);
        entity(&mut rng, depth, crlf, &mut text);
        let blob = damage(&mut rng, text.into_bytes());
        check(&blob, &MimeLimits::default(), &format!("seed {seed}"));
        check(&blob, &tight, &format!("seed {seed}, tight limits"));
    }
}

#[test]
fn random_bytes_keep_every_promise() {
    for seed in 0..2_000u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let len = rng.gen_range(0..512);
        let alphabet = b"ab-\r\n:; =\"*'%?Content-Type multipart/mixed boundary=x--x\t(";
        let blob: Vec<u8> = (0..len)
            .map(|_| {
                if rng.gen_bool(0.9) {
                    alphabet[rng.gen_range(0..alphabet.len())]
                } else {
                    rng.gen()
                }
            })
            .collect();
        check(
            &blob,
            &MimeLimits::default(),
            &format!("random seed {seed}"),
        );
    }
}
