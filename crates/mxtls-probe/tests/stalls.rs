//! Stalls outside SMTP: a resolver that accepts and never answers, a policy host that
//! accepts and never answers, and one that sends its policy a byte at a time. Each ends at
//! its own step limit (not at the check's deadline), and what happened is evidence. And policy
//! hosts that end their answer in hostile or careless ways.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mxtls_core::evidence::{DnsOutcome, FetchFailure};
use mxtls_core::names::{DnsName, RecordType};
use mxtls_probe::{Config, Deadlines, mta_sts};
use mxtls_world::pki::{KeyAlg, Pki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const STEP: Duration = Duration::from_secs(1);

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("name")
}

/// Accepts connections and holds each open, reading what comes and answering nothing.
async fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// A whole check against a resolver that never answers ends after a few query limits, and
/// records the MX lookup as timed out (which the core calls a failed lookup).
#[tokio::test]
async fn a_resolver_that_never_answers_ends_each_question_at_its_limit() {
    let resolver = black_hole().await;
    let config = Config {
        resolver: Some(resolver),
        allow_private_targets: true,
        timeout: Duration::from_secs(60),
        deadlines: Deadlines {
            dns_query: STEP,
            ..Deadlines::default()
        },
        ..Config::default()
    };
    let started = Instant::now();
    let domain = name("stalled.test");
    let check = mxtls_probe::check(&domain, &config, None);
    let evidence = tokio::time::timeout(Duration::from_secs(30), check)
        .await
        .expect("the check ends long before the test gives up")
        .expect("DNS is set up: the resolver accepts connections");
    let took = started.elapsed();
    assert_eq!(evidence.mx.outcome, DnsOutcome::Timeout);
    assert!(evidence.hosts.is_empty(), "no MX answer, no hosts");
    // The MX question, then the MTA-STS and TLS-RPT questions beside each other.
    assert!(
        took >= STEP && took < 4 * STEP + Duration::from_secs(2),
        "{took:?}"
    );
    // A lookup that got no answer is a DNS failure, never a DNSSEC one (nothing to re-sign);
    // with no MX answer, MTA-STS and TLS-RPT advice cannot apply and is not given.
    let report = mxtls_core::analyse(&evidence, evidence.probe.finished_at);
    let found: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.severity.id()))
        .collect();
    assert_eq!(
        found,
        [("dns-lookup-failed", "error")],
        "{:#?}",
        report.findings
    );
}

/// One question against a silent resolver: a timeout, with its DNSSEC state unknown.
#[tokio::test]
async fn a_silent_resolver_times_out_one_question() {
    let resolver = black_hole().await;
    let dns = mxtls_probe::dns::Dns::connect_with(resolver, None, STEP)
        .await
        .expect("the resolver accepts the connection");
    let started = Instant::now();
    let answer = dns.lookup(&name("stalled.test"), RecordType::MX).await;
    assert_eq!(answer.outcome, DnsOutcome::Timeout);
    assert!(answer.dnssec.is_failed(), "{:?}", answer.dnssec);
    assert!(started.elapsed() < STEP * 3, "{:?}", started.elapsed());
}

fn plan(port: u16) -> mta_sts::Plan {
    mta_sts::Plan {
        host: name("mta-sts.stalled.test"),
        port,
        allow_private_targets: true,
        source: Default::default(),
        deadline: Instant::now() + Duration::from_secs(60),
        limit: STEP,
    }
}

/// The A lookup of the policy host, as the probe records it, pointing at loopback.
fn lookups() -> Vec<mxtls_core::evidence::DnsAnswer> {
    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::A;
    let q = name("mta-sts.stalled.test");
    vec![mxtls_core::evidence::DnsAnswer {
        records: vec![mxtls_core::dns::encode(
            &q,
            300,
            &RData::A(A("127.0.0.1".parse().expect("ip"))),
        )],
        qname: q,
        qtype: RecordType::A,
        outcome: DnsOutcome::Data,
        rcode: Some(0),
        cname_chain: Vec::new(),
        dnssec: mxtls_core::evidence::DnssecState::Insecure,
        validation_failed: false,
        wire: None,
        elapsed_ms: None,
    }]
}

async fn fetch_within_limit(port: u16) -> (mxtls_core::evidence::PolicyFetch, Duration) {
    let started = Instant::now();
    let fetch = tokio::time::timeout(
        Duration::from_secs(30),
        mta_sts::fetch(&plan(port), lookups()),
    )
    .await
    .expect("the fetch ends long before the test gives up");
    (fetch, started.elapsed())
}

#[tokio::test]
async fn a_policy_host_that_never_answers_ends_at_the_fetch_limit() {
    let addr = black_hole().await;
    let (fetch, took) = fetch_within_limit(addr.port()).await;
    assert_eq!(fetch.failure, Some(FetchFailure::Timeout));
    assert!(fetch.body.is_none() && fetch.status.is_none());
    assert!(took >= STEP && took < STEP * 4, "{took:?}");
}

/// An HTTPS policy host for `mta-sts.stalled.test` on loopback that reads the request and
/// then runs `respond`; returns its port.
async fn policy_host<F, Fut>(respond: F) -> u16
where
    F: FnOnce(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let pki = Pki::new().expect("pki");
    let leaf = pki
        .leaf(
            &["mta-sts.stalled.test".to_owned()],
            KeyAlg::Ecdsa,
            false,
            true,
        )
        .expect("leaf");
    let acceptor =
        tokio_rustls::TlsAcceptor::from(mxtls_world::smtp::tls_config(&leaf, None).expect("tls"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut tls) = acceptor.accept(tcp).await else {
            return;
        };
        let mut buf = [0u8; 2048];
        let _ = tls.read(&mut buf).await; // the GET
        respond(tls).await;
    });
    port
}

/// A policy host that answers 200 and then sends one byte every 100 ms: the fetch limit is
/// for the whole fetch, so the drip cannot keep it going.
#[tokio::test]
async fn a_policy_that_drips_ends_at_the_fetch_limit() {
    let port = policy_host(|mut tls| async move {
        let _ = tls
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            .await;
        for _ in 0..600 {
            if tls.write_all(b"v").await.is_err() || tls.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let (fetch, took) = fetch_within_limit(port).await;
    assert_eq!(fetch.failure, Some(FetchFailure::Timeout));
    assert_eq!(fetch.status, Some(200), "the head was read and recorded");
    assert!(fetch.body.is_none(), "a partial body is not a policy");
    assert!(took >= STEP && took < STEP * 4, "{took:?}");
}

/// A chunked policy of 80 KB, in 1 KB chunks: over the 64 KB limit senders apply, so no
/// policy — and the probe stops reading once it knows.
#[tokio::test]
async fn a_chunked_policy_over_64_kb_is_too_large() {
    let port = policy_host(|mut tls| async move {
        let _ = tls
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
        for _ in 0..80 {
            if tls.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = tls.write_all(b"0\r\n\r\n").await;
        let _ = tls.shutdown().await;
    })
    .await;
    let mut plan = plan(port);
    plan.limit = Duration::from_secs(10);
    let fetch = tokio::time::timeout(Duration::from_secs(30), mta_sts::fetch(&plan, lookups()))
        .await
        .expect("the fetch ends");
    assert_eq!(
        fetch.failure,
        Some(FetchFailure::TooLarge {
            limit: mxtls_core::mta_sts::MAX_POLICY_BYTES
        })
    );
    assert!(fetch.body.is_none());
}

/// Issue 21: a first chunk, then a chunk size of `usize::MAX` — the old decoder's length
/// arithmetic overflowed and the probe panicked. Over real TLS the fetch now ends at once
/// with an HTTP failure that says why; the status is kept and there is no policy.
#[tokio::test]
async fn a_chunk_size_near_usize_max_fails_the_fetch_without_a_panic() {
    let port = policy_host(|mut tls| async move {
        let _ = tls
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nffffffffffffffff\r\nversion: STSv1\r\n")
            .await;
        let _ = tls.shutdown().await;
    })
    .await;
    let mut plan = plan(port);
    plan.limit = Duration::from_secs(10);
    let fetch = tokio::time::timeout(Duration::from_secs(30), mta_sts::fetch(&plan, lookups()))
        .await
        .expect("the fetch ends");
    assert_eq!(
        fetch.failure,
        Some(FetchFailure::Http {
            message:
                "error reading a body from connection: end of file before message length reached"
                    .into()
        })
    );
    assert_eq!(fetch.status, Some(200));
    assert_eq!(fetch.content_type.as_deref(), Some("text/plain"));
    assert!(fetch.body.is_none() && fetch.location.is_none());
}

/// A body delimited by the close, and the close is TCP's without TLS `close_notify`: the
/// end of the body, as for browsers, not an error.
#[tokio::test]
async fn a_close_without_close_notify_ends_a_close_delimited_policy() {
    let policy = "version: STSv1\nmode: testing\nmx: mx.stalled.test\nmax_age: 86400\n";
    let port = policy_host(move |mut tls| async move {
        let _ = tls
            .write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n{policy}").as_bytes(),
            )
            .await;
        let _ = tls.flush().await;
        drop(tls.into_inner().0); // TCP FIN, no close_notify
    })
    .await;
    let mut plan = plan(port);
    plan.limit = Duration::from_secs(10);
    let fetch = tokio::time::timeout(Duration::from_secs(30), mta_sts::fetch(&plan, lookups()))
        .await
        .expect("the fetch ends");
    assert_eq!(fetch.failure, None);
    assert_eq!(fetch.status, Some(200));
    assert_eq!(fetch.body.map(|b| b.0), Some(policy.as_bytes().to_vec()));
}

/// The check's deadline is bounded by `check::MAX_TIMEOUT`: a caller that asks for
/// `Duration::MAX` (once an overflow and a panic) gets a check that ends like any other.
#[tokio::test]
async fn an_unbounded_timeout_is_cut_to_the_maximum() {
    let config = Config {
        resolver: Some(black_hole().await),
        timeout: Duration::MAX,
        deadlines: Deadlines {
            dns_query: STEP,
            ..Deadlines::default()
        },
        ..Config::default()
    };
    let domain = name("unbounded.test");
    let check = mxtls_probe::check(&domain, &config, None);
    let evidence = tokio::time::timeout(Duration::from_secs(30), check)
        .await
        .expect("the check ends at its step limits")
        .expect("DNS is set up");
    assert_eq!(evidence.mx.outcome, DnsOutcome::Timeout);
}
