//! A posture session's TLS part: one crafted ClientHello ([`crate::client_hello`]) written
//! after STARTTLS, the server's first flight read back — bounded in bytes and time — and
//! the connection closed. No handshake is completed, so no key is ever used.

use std::time::Instant;

pub use mxtls_core::evidence::FlightEnd;
use mxtls_core::tls::parse_first_flight;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The most bytes of a first flight kept: a ServerHello with a long chain and a
/// ServerKeyExchange fits many times over.
pub const MAX_FLIGHT: usize = 64 * 1024;

/// Writes `hello` and reads until the first flight is complete, the server closes, the
/// byte limit or the deadline. The bytes read are returned in every case: they are the
/// evidence, whatever they hold.
pub async fn first_flight<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    hello: &[u8],
    deadline: Instant,
) -> std::io::Result<(Vec<u8>, FlightEnd)> {
    let deadline = tokio::time::Instant::from_std(deadline);
    match tokio::time::timeout_at(deadline, io.write_all(hello)).await {
        Ok(Err(e)) if closed(&e) => return Ok((Vec::new(), FlightEnd::Closed)),
        Ok(written) => written?,
        Err(_) => return Ok((Vec::new(), FlightEnd::Deadline)),
    }
    let mut bytes = Vec::new();
    let mut decoded = 0;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let room = MAX_FLIGHT - bytes.len();
        if room == 0 {
            return Ok((bytes, FlightEnd::Limit));
        }
        let want = room.min(chunk.len());
        let read = match tokio::time::timeout_at(deadline, io.read(&mut chunk[..want])).await {
            Ok(read) => read,
            Err(_) => return Ok((bytes, FlightEnd::Deadline)),
        };
        match read {
            Ok(0) => return Ok((bytes, FlightEnd::Closed)),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            // A reset is the server's answer to a hello it will not take, not a failure of
            // the probe.
            Err(e) if closed(&e) => return Ok((bytes, FlightEnd::Closed)),
            Err(e) => return Err(e),
        }
        // Decoded again only when a record has completed: a server that trickles bytes
        // costs one decoding per record, not per byte.
        let records = complete_records(&bytes);
        if records > decoded {
            decoded = records;
            if parse_first_flight(&bytes).complete() {
                return Ok((bytes, FlightEnd::Complete));
            }
        }
    }
}

/// How many whole TLS records `bytes` holds (or 1 for bytes that are no TLS at all, which
/// the decoder ends on at once).
fn complete_records(bytes: &[u8]) -> usize {
    let mut rest = bytes;
    let mut n = 0;
    while let [kind, _, _, hi, lo, body @ ..] = rest {
        if !(0x14..=0x17).contains(kind) {
            return n + 1;
        }
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let Some(after) = body.get(len..) else { break };
        rest = after;
        n += 1;
    }
    if n == 0 && rest.first().is_some_and(|k| !(0x14..=0x17).contains(k)) {
        return 1;
    }
    n
}

fn closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe)
}
