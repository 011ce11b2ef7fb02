//! The MTA-STS policy fetch, as RFC 8461 §3.3 says a sender does it: HTTPS to
//! `mta-sts.<domain>` with SNI, one GET of `/.well-known/mta-sts.txt`, no redirects
//! followed, a size limit and a deadline, the target policy applied. The TLS chain, status,
//! content type and body are recorded; whether the certificate is valid is the core's call.
//! HTTP/1.1 is read by hyper's client over the probe's own TLS stream.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use http_body_util::{BodyExt, Empty};
use hyper::body::Body as _;
use hyper::header;
use hyper_util::rt::TokioIo;
use mxtls_core::evidence::{Bytes, DnsAnswer, FetchFailure, KeyTypeOffer, PolicyFetch};
use mxtls_core::mta_sts::MAX_POLICY_BYTES;
use mxtls_core::names::DnsName;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::target;
use crate::tls::{client_config, tls_evidence};

/// Response head limit (hyper's read buffer: the head must fit in it).
pub const MAX_HEAD: usize = 16 * 1024;
/// Addresses tried before giving up.
pub const MAX_ADDRESSES: usize = 4;

/// Where and how to fetch.
pub struct Plan {
    pub host: DnsName,
    pub port: u16,
    pub allow_private_targets: bool,
    /// Where the connection leaves from.
    pub source: crate::identity::SourceAddrs,
    /// The whole check's deadline.
    pub deadline: Instant,
    /// The fetch's own limit, connection to last byte ([`crate::Deadlines::policy_fetch`]).
    pub limit: Duration,
}

/// Fetches the policy from the addresses of `plan.host` found in `lookups`.
pub async fn fetch(plan: &Plan, lookups: Vec<DnsAnswer>) -> PolicyFetch {
    let started = Instant::now();
    let addresses: Vec<IpAddr> = lookups
        .iter()
        .flat_map(mxtls_core::dns::addresses)
        .take(MAX_ADDRESSES)
        .collect();
    let mut record = PolicyFetch {
        url: format!("https://{}/.well-known/mta-sts.txt", plan.host),
        lookups,
        ..PolicyFetch::default()
    };
    let deadline = plan.deadline.min(started + plan.limit);
    let failure =
        match tokio::time::timeout_at(deadline.into(), run(plan, &addresses, &mut record)).await {
            Ok(Ok(())) => None,
            Ok(Err(f)) => Some(f),
            Err(_) => Some(FetchFailure::Timeout),
        };
    record.failure = failure;
    record.elapsed_ms = Some(crate::clock::elapsed_ms(started));
    record
}

async fn run(
    plan: &Plan,
    addresses: &[IpAddr],
    record: &mut PolicyFetch,
) -> Result<(), FetchFailure> {
    if addresses.is_empty() {
        return Err(FetchFailure::NoAddress);
    }
    let mut last = None;
    let mut stream = None;
    for &ip in addresses {
        if !plan.allow_private_targets
            && let Err(reason) = target::check(ip)
        {
            last = Some(FetchFailure::Refused {
                reason: reason.to_owned(),
            });
            continue;
        }
        match plan.source.connect(SocketAddr::new(ip, plan.port)).await {
            Ok(s) => {
                record.address = Some(ip);
                stream = Some(s);
                break;
            }
            Err(e) => {
                last = Some(FetchFailure::Connect {
                    message: e.to_string(),
                })
            }
        }
    }
    let Some(stream) = stream else {
        return Err(last.unwrap_or(FetchFailure::NoAddress));
    };
    let config = client_config(KeyTypeOffer::Any).map_err(|e| FetchFailure::Tls {
        message: e.to_string(),
    })?;
    let name =
        ServerName::try_from(plan.host.as_str().to_owned()).map_err(|_| FetchFailure::Tls {
            message: format!("{} is not a valid SNI name", plan.host),
        })?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| FetchFailure::Tls {
            message: e.to_string(),
        })?;
    record.tls = Some(tls_evidence(tls.get_ref().1, &plan.host));
    exchange(tls, &plan.host, record).await
}

/// Sends the policy request over `io` (the established TLS stream) and records the answer:
/// status, `Content-Type` and `Location` always; the body only for a 200, and only up to
/// [`MAX_POLICY_BYTES`] — past it the fetch stops reading and fails `TooLarge`. HTTP/1.1 is
/// hyper's (RFC 9112 framing, chunk sizes with checked arithmetic, a head of at most
/// [`MAX_HEAD`] bytes); no redirect is followed. Never panics and holds at most the limit
/// plus one read buffer whatever the server sends; the caller bounds the time.
pub async fn exchange<S>(
    io: S,
    host: &DnsName,
    record: &mut PolicyFetch,
) -> Result<(), FetchFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD)
        .handshake::<_, Empty<hyper::body::Bytes>>(TokioIo::new(CloseIsEnd(io)))
        .await
        .map_err(http_failure)?;
    let request = hyper::Request::get("/.well-known/mta-sts.txt")
        .header(header::HOST, host.as_str())
        .header(
            header::USER_AGENT,
            concat!("mxtls/", env!("CARGO_PKG_VERSION")),
        )
        .header(header::ACCEPT, "text/plain")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| FetchFailure::Http {
            message: e.to_string(),
        })?;
    let answer = async {
        let response = sender.send_request(request).await.map_err(http_failure)?;
        record.status = Some(response.status().as_u16());
        record.content_type = header_text(response.headers(), header::CONTENT_TYPE, 200);
        record.location = header_text(response.headers(), header::LOCATION, 500);
        if response.status() != hyper::StatusCode::OK {
            return Ok(()); // a redirect or an error: recorded, not followed
        }
        let mut body = response.into_body();
        if body.size_hint().lower() > MAX_POLICY_BYTES as u64 {
            return Err(too_large()); // a Content-Length over the limit: not read at all
        }
        let mut policy = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(http_failure)?.into_data() else {
                continue; // trailers
            };
            if policy.len() + data.len() > MAX_POLICY_BYTES {
                return Err(too_large());
            }
            policy.extend_from_slice(&data);
        }
        record.body = Some(Bytes(policy));
        Ok(())
    };
    // The connection is driven beside the answer, in this task (nothing outlives the
    // caller's deadline); once the answer is read the connection is dropped, which closes it.
    let answer = std::pin::pin!(answer);
    let connection = std::pin::pin!(connection);
    match select(answer, connection).await {
        Either::Left((result, _)) => result,
        // The connection ended first (an error, or the server closed): the answer has seen
        // all it will, and resolves at once.
        Either::Right((_, answer)) => answer.await,
    }
}

fn too_large() -> FetchFailure {
    FetchFailure::TooLarge {
        limit: MAX_POLICY_BYTES,
    }
}

/// hyper's error with its causes ("error reading a body from connection: end of file
/// before message length reached"; a head over [`MAX_HEAD`] is "message head is too
/// large"), as the evidence's reason.
fn http_failure(e: hyper::Error) -> FetchFailure {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    FetchFailure::Http { message }
}

/// The last value of a header as text (lossy), trimmed and cut at `max` characters.
fn header_text(
    headers: &hyper::HeaderMap,
    name: hyper::header::HeaderName,
    max: usize,
) -> Option<String> {
    let value = headers.get_all(name).iter().next_back()?;
    Some(
        String::from_utf8_lossy(value.as_bytes())
            .trim()
            .chars()
            .take(max)
            .collect(),
    )
}

/// A stream whose TCP close without TLS `close_notify` counts as the end, as it does for
/// browsers and senders reading a body delimited by the close; hyper still refuses a body
/// cut short of its `Content-Length` or last chunk.
struct CloseIsEnd<S>(S);

impl<S: AsyncRead + Unpin> AsyncRead for CloseIsEnd<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.0).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CloseIsEnd<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fetch's record after `exchange` talks to a server that reads the request head,
    /// sends `answer` and closes.
    async fn answered(answer: &[u8]) -> (PolicyFetch, Result<(), FetchFailure>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut record = PolicyFetch::default();
        let host = DnsName::parse("mta-sts.example.org").expect("a name");
        let (client, mut server) = tokio::io::duplex(8192);
        let serve = async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match server.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            // The client may stop reading (and close) before the whole answer is sent.
            let _ = server.write_all(answer).await;
            let _ = server.shutdown().await;
        };
        let (result, ()) = tokio::join!(exchange(client, &host, &mut record), serve);
        (record, result)
    }

    fn http_message(result: Result<(), FetchFailure>) -> String {
        match result {
            Err(FetchFailure::Http { message }) => message,
            other => panic!("not an HTTP failure: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_redirect_is_recorded_not_followed() {
        let (r, result) = answered(
            b"HTTP/1.1 301 Moved\r\nLocation: https://elsewhere/\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert_eq!(result, Ok(()));
        assert_eq!(r.status, Some(301));
        assert_eq!(r.location.as_deref(), Some("https://elsewhere/"));
        assert_eq!((r.content_type, r.body), (None, None));
    }

    #[tokio::test]
    async fn chunked_and_close_delimited_bodies_are_read() {
        let (r, result) = answered(b"HTTP/1.1 200 OK\nContent-Type: text/plain; charset=utf-8\nTransfer-Encoding: chunked\n\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n").await;
        assert_eq!(result, Ok(()));
        assert_eq!(r.status, Some(200));
        assert_eq!(r.content_type.as_deref(), Some("text/plain; charset=utf-8"));
        assert_eq!(r.body, Some(Bytes(b"hello, world".to_vec())));
        let (r, result) =
            answered(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nversion: STSv1\n").await;
        assert_eq!(result, Ok(()));
        assert_eq!(r.body, Some(Bytes(b"version: STSv1\n".to_vec())));
    }

    /// Issue 21: a chunk size near `usize::MAX` after a first chunk once overflowed the
    /// hand-written decoder's length arithmetic and panicked. Now it is a body that ends
    /// before its chunk does: an HTTP failure with the reason, the status kept, no body.
    #[tokio::test]
    async fn a_chunk_size_near_usize_max_is_a_failure_not_a_panic() {
        let (r, result) = answered(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nffffffffffffffff\r\nversion: STSv1\r\n").await;
        let message = http_message(result);
        assert!(
            message.contains("end of file before message length reached"),
            "{message}"
        );
        assert_eq!(r.status, Some(200));
        assert_eq!(r.body, None);
        // One hex digit more does not fit in 64 bits: refused as such.
        let (r, result) = answered(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10000000000000000\r\nx\r\n").await;
        let message = http_message(result);
        assert!(
            message.contains("invalid chunk size: overflow"),
            "{message}"
        );
        assert_eq!(r.body, None);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_too_large() {
        let declared = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\nversion: STSv1\n",
            MAX_POLICY_BYTES + 1
        );
        let (r, result) = answered(declared.as_bytes()).await;
        assert_eq!(result, Err(too_large()));
        assert_eq!((r.status, r.body), (Some(200), None));
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..=MAX_POLICY_BYTES / 1024 {
            chunked.extend_from_slice(b"400\r\n");
            chunked.extend_from_slice(&[b'x'; 1024]);
            chunked.extend_from_slice(b"\r\n");
        }
        let (r, result) = answered(&chunked).await;
        assert_eq!(result, Err(too_large()));
        assert_eq!(r.body, None);
        // Exactly the limit is a policy.
        let mut exact = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        exact.resize(exact.len() + MAX_POLICY_BYTES, b'x');
        let (r, result) = answered(&exact).await;
        assert_eq!(result, Ok(()));
        assert_eq!(r.body.map(|b| b.0.len()), Some(MAX_POLICY_BYTES));
    }

    #[tokio::test]
    async fn what_is_not_http_is_said() {
        let (r, result) = answered(b"SSH-2.0-OpenSSH\r\n\r\n").await;
        assert!(!http_message(result).is_empty());
        assert_eq!(r.status, None);
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        while huge.len() <= MAX_HEAD {
            huge.extend_from_slice(b"X-Padding: padding-padding-padding\r\n");
        }
        let (r, result) = answered(&huge).await;
        assert_eq!(http_message(result), "message head is too large");
        assert_eq!(r.status, None);
        let (_, result) = answered(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nversion").await;
        assert!(http_message(result).contains("end of file"));
    }
}
