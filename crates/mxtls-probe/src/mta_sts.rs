//! The MTA-STS policy fetch, as RFC 8461 §3.3 says a sender does it: HTTPS to
//! `mta-sts.<domain>` with SNI, one GET of `/.well-known/mta-sts.txt`, no redirects
//! followed, a size limit and a deadline, the target policy applied. The TLS chain, status,
//! content type and body are recorded; whether the certificate is valid is the core's call.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mxtls_core::evidence::{Bytes, DnsAnswer, FetchFailure, KeyTypeOffer, PolicyFetch};
use mxtls_core::mta_sts::MAX_POLICY_BYTES;
use mxtls_core::names::DnsName;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::target;
use crate::tls::{client_config, tls_evidence};

/// Response head limit.
pub const MAX_HEAD: usize = 16 * 1024;
/// Addresses tried before giving up.
pub const MAX_ADDRESSES: usize = 4;

/// Where and how to fetch.
pub struct Plan {
    pub host: DnsName,
    pub port: u16,
    pub allow_private_targets: bool,
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
        address: None,
        status: None,
        content_type: None,
        location: None,
        body: None,
        tls: None,
        error: None,
        elapsed_ms: None,
        failure: None,
        lookups,
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
        match TcpStream::connect(SocketAddr::new(ip, plan.port)).await {
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
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| FetchFailure::Tls {
            message: e.to_string(),
        })?;
    record.tls = Some(tls_evidence(tls.get_ref().1, &plan.host));

    let request = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {}\r\nUser-Agent: mxtls/{}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
        plan.host,
        env!("CARGO_PKG_VERSION")
    );
    let io = |e: std::io::Error| FetchFailure::Http {
        message: e.to_string(),
    };
    tls.write_all(request.as_bytes()).await.map_err(io)?;

    // The head, then as much body as the limit allows (one byte more, to see it is over).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(FetchFailure::Http {
                message: format!("the response head exceeds {MAX_HEAD} bytes"),
            });
        }
        let n = read_some(&mut tls, &mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(FetchFailure::Http {
                message: "the connection closed before the response head ended".into(),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = parse_head(&buf[..head_end]).map_err(|message| FetchFailure::Http { message })?;
    record.status = Some(head.status);
    record.content_type = head.content_type.clone();
    record.location = head.location.clone();
    if head.status != 200 {
        return Ok(()); // a redirect or an error: recorded, not followed
    }
    if head
        .content_length
        .is_some_and(|n| n > MAX_POLICY_BYTES as u64)
    {
        return Err(FetchFailure::TooLarge {
            limit: MAX_POLICY_BYTES,
        });
    }
    let mut body = buf[head_end..].to_vec();
    let cap = if head.chunked {
        MAX_POLICY_BYTES * 2 + 4096 // chunk framing
    } else {
        MAX_POLICY_BYTES + 1
    };
    loop {
        if let Some(n) = head.content_length
            && body.len() as u64 >= n
        {
            body.truncate(n as usize);
            break;
        }
        if body.len() >= cap {
            break;
        }
        let n = read_some(&mut tls, &mut chunk).await.map_err(io)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let body = if head.chunked {
        decode_chunked(&body, MAX_POLICY_BYTES + 1)
            .map_err(|message| FetchFailure::Http { message })?
    } else {
        body
    };
    if body.len() > MAX_POLICY_BYTES {
        return Err(FetchFailure::TooLarge {
            limit: MAX_POLICY_BYTES,
        });
    }
    record.body = Some(Bytes(body));
    Ok(())
}

/// Reads; a TLS close without close_notify after data counts as the end.
async fn read_some<R: AsyncReadExt + Unpin>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    match r.read(buf).await {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
        other => other,
    }
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
}

/// The parts of a response head the fetch needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub content_length: Option<u64>,
    pub chunked: bool,
}

pub fn parse_head(bytes: &[u8]) -> Result<Head, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines();
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return Err(format!(
            "\"{}\" is not an HTTP/1.x status line",
            status_line.chars().take(80).collect::<String>()
        ));
    }
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|c| (100..600).contains(c))
        .ok_or_else(|| format!("\"{code}\" is not a status code"))?;
    let mut head = Head {
        status,
        content_type: None,
        location: None,
        content_length: None,
        chunked: false,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => head.content_type = Some(value.chars().take(200).collect()),
            "location" => head.location = Some(value.chars().take(500).collect()),
            "content-length" => {
                head.content_length = Some(
                    value
                        .parse()
                        .map_err(|_| format!("Content-Length \"{value}\" is not a number"))?,
                )
            }
            "transfer-encoding" => head.chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    if head.chunked {
        head.content_length = None;
    }
    Ok(head)
}

/// Decodes a chunked body, refusing to produce more than `limit` bytes.
pub fn decode_chunked(mut data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Err("a chunk size line is cut short".into());
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("\"{size_text}\" is not a chunk size"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if out.len() + size > limit {
            // Over the limit: the caller reports the size; no need to read the rest.
            out.extend_from_slice(&data[..data.len().min(limit + 1 - out.len())]);
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("a chunk is cut short".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse() {
        let h = parse_head(
            b"HTTP/1.1 301 Moved\r\nLocation: https://elsewhere/\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.status, 301);
        assert_eq!(h.location.as_deref(), Some("https://elsewhere/"));
        let h = parse_head(b"HTTP/1.0 200 OK\nContent-Type: text/plain; charset=utf-8\nTransfer-Encoding: chunked\n\n").unwrap();
        assert!(h.chunked);
        assert_eq!(h.content_type.as_deref(), Some("text/plain; charset=utf-8"));
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 abc\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_bodies_decode_within_the_limit() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        assert_eq!(decode_chunked(body, 100).unwrap(), b"hello, world");
        assert_eq!(decode_chunked(body, 12).unwrap(), b"hello, world");
        // Over the limit: exactly one byte more than it, so the caller sees "too large"
        // without decoding (or holding) the rest.
        assert_eq!(decode_chunked(body, 6).unwrap(), b"hello, ");
        assert_eq!(decode_chunked(body, 3).unwrap(), b"hell");
        assert!(decode_chunked(b"zz\r\n", 10).is_err());
        assert!(decode_chunked(b"5\r\nhel", 10).is_err());
    }
}
