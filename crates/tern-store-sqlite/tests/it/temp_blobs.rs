//! Temporary blob files (`blobs/tmp/`): kept while their writer lives, however slow, and
//! removed on every failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use tern_store::{NewMessage, Stores};

use crate::open;
use tern_types::{Address, Domain, Flags, MailboxId, Uid};

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("blobs/tmp"))
        .expect("blobs/tmp")
        .map(|e| e.expect("entry").path())
        .collect()
}

fn set_mtime(path: &Path, when: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(when))
        .expect("set mtime");
}

async fn inbox(stores: &Stores) -> MailboxId {
    let d = &stores.directory;
    d.add_domain(&Domain::parse("example.org").unwrap())
        .await
        .unwrap();
    let alice = d
        .add_account(&Address::parse("alice@example.org").unwrap(), "h", 0)
        .await
        .unwrap();
    stores.mailboxes.mailbox(alice, "INBOX").await.unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_writers_old_temp_file_survives_collection_and_an_orphan_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 16);
    let stores = store.stores();
    let inbox = inbox(&stores).await;
    let mut writer = stores.blobs.writer().await.unwrap();
    writer.write(&[b'a'; 100]).await.unwrap();
    let spilled = temp_files(dir.path());
    assert_eq!(spilled.len(), 1, "the body was spilled to a temporary file");
    // A sender that has been trickling its body for a day, and a file no writer owns.
    let long_ago = SystemTime::now() - Duration::from_secs(24 * 3600);
    set_mtime(&spilled[0], long_ago);
    let orphan = dir.path().join("blobs/tmp/00000000deadbeef");
    std::fs::write(&orphan, b"left by a crash").unwrap();
    set_mtime(&orphan, long_ago);

    let report = store
        .collect_garbage(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.temp_files_removed, 1);
    assert!(!orphan.exists(), "the orphan temporary file was kept");
    assert!(spilled[0].exists(), "the live writer's file was collected");

    writer.write(b" and the rest").await.unwrap();
    let blob = writer.finish().await.expect("the slow body is stored");
    assert!(blob.inline.is_none());
    let message = NewMessage {
        blob,
        prefix: vec![],
        flags: Flags::new(),
        internal_date: 0,
    };
    stores.mailboxes.append(inbox, message).await.unwrap();
    let mut expected = vec![b'a'; 100];
    expected.extend_from_slice(b" and the rest");
    assert_eq!(
        stores.mailboxes.read_message(inbox, Uid(1)).await.unwrap(),
        expected
    );
    assert!(temp_files(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rename_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 16);
    let mut writer = store.stores().blobs.writer().await.unwrap();
    writer.write(&[b'a'; 100]).await.unwrap();
    assert_eq!(temp_files(dir.path()).len(), 1);
    // Without its fan-out directory the blob cannot be renamed into place.
    for byte in 0..=255u8 {
        std::fs::remove_dir(dir.path().join(format!("blobs/{byte:02x}"))).unwrap();
    }
    let err = writer.finish().await.expect_err("the rename fails");
    assert!(err.to_string().contains("rename"), "{err}");
    assert!(temp_files(dir.path()).is_empty());
}

/// A tmpfs mounted for one test; unmounted when dropped, also when the test fails.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `dir`, or says why it cannot.
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .unwrap_or("unknown");
        if euid != "0" {
            return Err(format!(
                "mounting a tmpfs needs root; running as uid {euid}"
            ));
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still has a file open in it: detach it now, freed when closed.
            let _ = Command::new("umount").arg("--lazy").arg(&self.dir).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_fills_the_disk_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    std::fs::create_dir(&blobs).unwrap();
    let _tmpfs = match Tmpfs::mount(&blobs, "2m") {
        Ok(mounted) => mounted,
        Err(reason) => {
            println!("skipped a_body_that_fills_the_disk_leaves_no_temporary_file: {reason}");
            return;
        }
    };
    let store = open(dir.path(), 1024);
    let stores = store.stores();
    let mut writer = stores.blobs.writer().await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut failure = None;
    for _ in 0..48 {
        if let Err(e) = writer.write(&chunk).await {
            failure = Some(e);
            break;
        }
    }
    let err = failure.expect("3 MiB do not fit in 2 MiB");
    assert!(err.to_string().contains("blob file"), "{err}");
    assert!(
        temp_files(dir.path()).is_empty(),
        "a failed write left {:?}",
        temp_files(dir.path())
    );
    // The bytes written are lost with the file: the writer refuses to go on.
    assert!(writer.write(b"more").await.is_err());
    assert!(writer.finish().await.is_err());
    // The space the failed write took is free again: a smaller body fits.
    let blob = stores.blobs.stage(vec![b'y'; 512 * 1024]).await;
    assert!(blob.is_ok(), "{blob:?}");
}
