//! Who may read `/metrics` (it names the watched domains), over real HTTP from distinct
//! loopback sources (127.0.0.N): behind a reverse proxy on the same machine, the proxy's
//! requests are its clients' — allowed only for `--metrics-from` clients — while loopback
//! itself may read only where no trusted proxy covers it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mxtls_server::{Cidr, Config, TrustedProxies};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

mod common;

/// A server trusting `proxies`, serving `/metrics` also to `from`.
async fn server(db: &common::TestDb, proxies: &[&str], from: &[&str]) -> SocketAddr {
    let proxies = TrustedProxies(proxies.iter().map(|p| p.parse().expect("cidr")).collect());
    let from: Vec<Cidr> = from.iter().map(|p| p.parse().expect("cidr")).collect();
    let config = Config {
        trusted_proxies: proxies,
        metrics_from: from,
        ..common::api_only(db)
    };
    common::start(config).await.0
}

/// The status of `GET /metrics` from 127.0.0.`n` with `extra` header lines.
async fn metrics_from(n: u8, to: SocketAddr, extra: &str) -> u16 {
    let exchange = async {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)), 0))
            .expect("bind the source address");
        let mut s = socket.connect(to).await.expect("connect");
        s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {to}\r\n{extra}\r\n").as_bytes())
            .await
            .expect("write");
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw).await;
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("an answer within 30 s");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if status == 200 {
        assert!(text.contains("mxtls_watches"), "{text}");
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_on_loopback_does_not_open_metrics_to_its_clients() {
    let db = common::TestDb::memory();
    // A reverse proxy at 127.0.0.1; the monitoring network is 192.0.2.0/24.
    let addr = server(&db, &["127.0.0.1"], &["192.0.2.0/24"]).await;
    let seen = [
        metrics_from(1, addr, "X-Forwarded-For: 203.0.113.9\r\n").await,
        metrics_from(1, addr, "").await,
        metrics_from(1, addr, "X-Forwarded-For: 127.0.0.1\r\n").await,
        metrics_from(1, addr, "Forwarded: for=203.0.113.9\r\n").await,
        metrics_from(1, addr, "X-Forwarded-For: 192.0.2.7\r\n").await,
        metrics_from(1, addr, "Forwarded: for=192.0.2.7\r\n").await,
        // Loopback that is not the proxy.
        metrics_from(2, addr, "").await,
    ];
    assert_eq!(
        seen,
        [403, 403, 403, 403, 200, 200, 200],
        "the proxy's internet clients, the proxy itself and a forged loopback are refused; \
         a --metrics-from client through it and loopback elsewhere may read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_reads_metrics_where_no_proxy_covers_it() {
    let db = common::TestDb::memory();
    // A proxy elsewhere (127.0.0.2 stands for a proxy host); nothing in --metrics-from.
    let addr = server(&db, &["127.0.0.2"], &[]).await;
    let seen = [
        metrics_from(1, addr, "").await,
        metrics_from(1, addr, "X-Forwarded-For: 203.0.113.9\r\n").await,
        metrics_from(2, addr, "X-Forwarded-For: 203.0.113.9\r\n").await,
        metrics_from(2, addr, "").await,
    ];
    assert_eq!(
        seen,
        [200, 200, 403, 403],
        "loopback reads (forged headers from it are ignored); the proxy's requests do not"
    );
}
