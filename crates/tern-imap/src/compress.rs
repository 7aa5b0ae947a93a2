//! RFC 4978 COMPRESS=DEFLATE: from the tagged OK on, the connection's bytes go through raw
//! deflate (RFC 1951) both ways. Every answer ends on a sync flush (`tern_net::io::write_all`
//! flushes, and the encoder's flush is a deflate sync flush), so the client can inflate each
//! answer whole as it arrives. The compression itself is async-compression's (flate2).

use async_compression::tokio::bufread::DeflateDecoder;
use async_compression::tokio::write::DeflateEncoder;
use tern_net::Stream;
use tokio::io::{AsyncReadExt, BufReader};

/// `stream` with deflate both ways. `already_read`: compressed bytes the client sent right
/// after its COMPRESS command (RFC 4978 §3 lets it start at once), read before the switch.
pub(crate) fn deflate(stream: Box<dyn Stream>, already_read: Vec<u8>) -> Box<dyn Stream> {
    let (reader, writer) = tokio::io::split(stream);
    let reader = BufReader::new(std::io::Cursor::new(already_read).chain(reader));
    Box::new(tokio::io::join(
        DeflateDecoder::new(reader),
        DeflateEncoder::new(writer),
    ))
}
