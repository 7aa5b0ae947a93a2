//! Writing to a peer, with the limits every protocol shares.
//!
//! A write is bounded by the idle timeout *per unit of progress*, not in total: a client on a
//! slow link that reads steadily can take a 50 MB message however long it needs, while one
//! that stops reading is dropped after the idle timeout. A write is never cut by the start
//! of a shutdown (the reply to committed work must reach the client, or it sends the work
//! again); once the shutdown's grace period is over it is abandoned.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::Shutdown;

/// Writes all of `bytes` and flushes them. Fails with `TimedOut` when one write makes no
/// progress for `idle` or when the shutdown's grace period is over, with `WriteZero` when the
/// peer is gone.
///
/// The flush matters under TLS: a write that finds the socket full returns once TLS has taken
/// the plaintext, and the last records stay in its buffer until the next write or a flush.
/// Without it, an answer's tail can wait there while the client waits for it (an IMAP
/// client that pipelines FETCHes over STARTTLS stalled this way).
pub async fn write_all<W>(
    stream: &mut W,
    bytes: &[u8],
    idle: Duration,
    shutdown: &Shutdown,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = bounded(stream.write(rest), idle, shutdown).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        rest = rest.get(n..).unwrap_or_default();
    }
    bounded(stream.flush(), idle, shutdown).await
}

/// Runs one step of I/O for at most `idle`, and not past the shutdown's grace period.
/// Exported so that reads that must finish within the grace period (an SMTP message being
/// received when the stop begins) use the same rule.
pub async fn bounded<T>(
    op: impl Future<Output = io::Result<T>>,
    idle: Duration,
    shutdown: &Shutdown,
) -> io::Result<T> {
    tokio::select! {
        // A step that has completed wins over the end of the grace period.
        biased;
        done = tokio::time::timeout(idle, op) => {
            done.unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")))
        }
        _ = shutdown.grace_over() => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the shutdown grace period is over",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A reader that takes 1 KiB every second: 64 KiB take a minute, far more than the idle
    /// timeout of 5 s, and the write still succeeds because each piece makes progress.
    #[tokio::test(start_paused = true)]
    async fn a_slow_steady_reader_is_not_cut_off() {
        let (mut server, mut client) = tokio::io::duplex(1024);
        let shutdown = Shutdown::new(Duration::from_secs(10));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let mut total = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n,
                }
            }
        });
        let started = tokio::time::Instant::now();
        let data = vec![b'x'; 64 * 1024];
        write_all(&mut server, &data, Duration::from_secs(5), &shutdown)
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_secs(60));
        drop(server);
        assert_eq!(reader.await.unwrap(), data.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_stops_is_cut_off_after_the_idle_timeout() {
        let (mut server, _client) = tokio::io::duplex(1024);
        let shutdown = Shutdown::new(Duration::from_secs(10));
        let started = tokio::time::Instant::now();
        let err = write_all(&mut server, &[0; 4096], Duration::from_secs(5), &shutdown)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    /// The start of a shutdown does not interrupt a write; the end of its grace period does.
    #[tokio::test(start_paused = true)]
    async fn shutdown_gives_a_write_its_grace_period_only() {
        let (mut server, mut client) = tokio::io::duplex(1024);
        let shutdown = Shutdown::new(Duration::from_secs(10));
        shutdown.begin();
        // Read one piece now: the write makes progress after the stop began.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n = client.read(&mut buf).await.unwrap();
            tokio::time::sleep(Duration::from_secs(3600)).await;
            n
        });
        let started = tokio::time::Instant::now();
        let err = write_all(&mut server, &[0; 8192], Duration::from_secs(600), &shutdown)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        reader.abort();
    }

    /// What a layer above the socket buffers (TLS keeps the records it could not write yet)
    /// reaches the peer once `write_all` returns: nothing waits for a later write.
    #[tokio::test(start_paused = true)]
    async fn what_a_buffering_layer_holds_is_flushed() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut layered = tokio::io::BufWriter::new(server);
        let shutdown = Shutdown::new(Duration::from_secs(10));
        write_all(
            &mut layered,
            b"a3 OK done\r\n",
            Duration::from_secs(5),
            &shutdown,
        )
        .await
        .unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(60), client.read(&mut buf))
            .await
            .expect("the bytes stayed in the buffering layer")
            .unwrap();
        assert_eq!(&buf[..n], b"a3 OK done\r\n");
    }
}
