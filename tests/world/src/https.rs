//! The MTA-STS policy hosts (`mta-sts.<domain>`): just enough HTTPS/1.1 to answer one GET
//! the way a scenario needs — the policy, a redirect, a 404, an oversized body, or a hostile
//! chunked one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::pki::Error;
use crate::scenarios::Serve;

/// What one policy host answers.
#[derive(Clone)]
pub struct PolicyHost {
    pub serve: Serve,
    pub domain: String,
    pub tls: Arc<ServerConfig>,
}

/// Binds `addr` and serves until the task is aborted.
pub async fn listen(
    addr: SocketAddr,
    host: PolicyHost,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot bind HTTPS {addr}: {e}"))?;
    let acceptor = TlsAcceptor::from(host.tls.clone());
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, host) = (acceptor.clone(), host.clone());
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(30), async move {
                    let mut tls = acceptor.accept(stream).await?;
                    // Read the request head (bounded); its content does not matter.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                        let n = tls.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        head.extend_from_slice(&buf[..n]);
                    }
                    tls.write_all(&response(&host)).await?;
                    tls.shutdown().await
                })
                .await;
            });
        }
    }))
}

fn response(host: &PolicyHost) -> Vec<u8> {
    match host.serve {
        Serve::Policy(template) => {
            let body = template.replace("{domain}", &host.domain);
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        Serve::Redirect => format!(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: https://policies.elsewhere.test/{}.txt\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            host.domain
        )
        .into_bytes(),
        Serve::NotFound => {
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n"
                .to_vec()
        }
        Serve::Oversized => {
            let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nversion: STSv1\nmode: enforce\n".to_vec();
            for i in 0..2000 {
                out.extend_from_slice(format!("mx: mx{i:04}.padding-padding-padding.test\n").as_bytes());
            }
            out
        }
        // Issue 21: the size of the second chunk overflowed the probe's old decoder.
        Serve::HostileChunked => b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\nffffffffffffffff\r\nversion: STSv1\r\n".to_vec(),
    }
}
