//! In-process DNSSEC validation against the test world's signed zones: the states the core
//! relies on (RFC 4035 §4.3), each from a real resolver and real signatures.

use mxtls_core::evidence::{DnsOutcome, DnssecState, RrsigSupport};
use mxtls_core::names::{DnsName, RecordType};
use mxtls_probe::dns::Dns;
use mxtls_world::{Options, World};

fn n(s: &str) -> DnsName {
    DnsName::parse(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_states_from_the_world() {
    let world = World::start(Options {
        net: 55,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let dns = Dns::connect(world.resolver, Some(&world.trust_anchor))
        .await
        .expect("resolver");
    let mut problems = Vec::new();
    let mut expect = |what: &str, ok: bool, got: String| {
        if !ok {
            problems.push(format!("{what}: got {got}"));
        }
    };

    assert_eq!(dns.rrsig_support().await, RrsigSupport::Present);

    let a = dns.lookup(&n("dane-ee.test"), RecordType::MX).await;
    expect(
        "signed MX is secure data",
        a.outcome == DnsOutcome::Data && a.dnssec == DnssecState::Secure,
        format!("{:?} {:?}", a.outcome, a.dnssec),
    );

    let a = dns
        .lookup(&n("_25._tcp.mx.dane-ee.test"), RecordType::TLSA)
        .await;
    expect(
        "signed TLSA is secure data",
        a.outcome == DnsOutcome::Data && a.dnssec.is_secure() && a.records.len() == 1,
        format!("{:?} {:?} {}", a.outcome, a.dnssec, a.records.len()),
    );

    let a = dns
        .lookup(&n("_25._tcp.mx.no-starttls.test"), RecordType::TLSA)
        .await;
    expect(
        "missing TLSA is a secure NXDOMAIN",
        a.outcome == DnsOutcome::NxDomain && a.dnssec.is_secure(),
        format!("{:?} {:?}", a.outcome, a.dnssec),
    );

    let a = dns.lookup(&n("mx.dane-ee.test"), RecordType::AAAA).await;
    expect(
        "missing AAAA is a secure NODATA",
        a.outcome == DnsOutcome::NoData && a.dnssec.is_secure(),
        format!("{:?} {:?}", a.outcome, a.dnssec),
    );

    let a = dns.lookup(&n("unsigned.test"), RecordType::MX).await;
    expect(
        "unsigned MX is insecure data",
        a.outcome == DnsOutcome::Data && a.dnssec == DnssecState::Insecure,
        format!("{:?} {:?}", a.outcome, a.dnssec),
    );

    let a = dns
        .lookup(&n("_25._tcp.mx.bogus-tlsa.test"), RecordType::TLSA)
        .await;
    expect(
        "edited TLSA is bogus, with data (CD=1)",
        a.dnssec.is_failed() && a.validation_failed && a.records.len() == 1,
        format!(
            "{:?} {:?} failed={}",
            a.outcome, a.dnssec, a.validation_failed
        ),
    );

    let a = dns.lookup(&n("bad-ds.test"), RecordType::MX).await;
    expect(
        "a DS matching no key makes the zone bogus",
        a.dnssec.is_failed(),
        format!("{:?} {:?}", a.outcome, a.dnssec),
    );

    let a = dns.lookup(&n("mx.mx-cname.test"), RecordType::A).await;
    expect(
        "the alias is followed, securely",
        a.outcome == DnsOutcome::Data
            && a.dnssec.is_secure()
            && a.cname_chain.len() == 1
            && a.cname_chain[0].dnssec.is_secure(),
        format!("{:?} {:?} {:?}", a.outcome, a.dnssec, a.cname_chain),
    );

    let a = dns.lookup(&n("mx.mx-cname.test"), RecordType::AAAA).await;
    expect(
        "a denial behind a secure alias is secure",
        a.outcome == DnsOutcome::NoData && a.dnssec.is_secure() && a.cname_chain.len() == 1,
        format!("{:?} {:?} {:?}", a.outcome, a.dnssec, a.cname_chain),
    );

    world.stop().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A TCP relay to `resolver` that closes a client's connection after `idle` without a
/// query, as resolvers do (Unbound, once half its TCP slots are taken, after 1% of its idle
/// timeout), and optionally one connection as a query arrives (the close racing the query).
/// Counts the connections it accepted.
async fn closing_relay(
    resolver: std::net::SocketAddr,
    idle: std::time::Duration,
    cut: Option<(usize, usize)>,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let nth = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Connection `cut.0` may be cut as a query arrives: after `cut.1` reads, the next
            // one is dropped unanswered and the connection closed.
            let cut = cut
                .filter(|(which, _)| *which == nth)
                .map(|(_, after)| after);
            tokio::spawn(async move {
                let Ok(upstream) = tokio::net::TcpStream::connect(resolver).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                // Answers flow back as they come; queries flow up until the client is idle.
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut ur, &mut cw).await;
                });
                let mut buf = vec![0u8; 4096];
                let mut reads = 0;
                while let Ok(Ok(n)) = tokio::time::timeout(idle, cr.read(&mut buf)).await {
                    if cut == Some(reads) || n == 0 || uw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    reads += 1;
                }
                // Idle (or gone): close both ways, as the resolver would.
                back.abort();
            });
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_resolver_closed_is_made_again() {
    let world = World::start(Options {
        net: 89,
        smtp_port: 2589,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let idle = std::time::Duration::from_millis(300);
    let (relay, accepted) = closing_relay(world.resolver, idle, None).await;
    let dns = Dns::connect(relay, Some(&world.trust_anchor))
        .await
        .expect("resolver");
    let first = dns.lookup(&n("dane-ee.test"), RecordType::DNSKEY).await;
    assert_eq!(
        (&first.outcome, first.dnssec.is_secure()),
        (&DnsOutcome::Data, true),
        "{first:?}"
    );
    let before = accepted.load(std::sync::atomic::Ordering::SeqCst);
    // Longer than the relay's idle limit, as a check's SMTP sessions are: it closes.
    tokio::time::sleep(idle * 3).await;
    for (name, rtype) in [
        ("dane-ee.test", RecordType::DS),
        ("test", RecordType::DNSKEY),
        ("_25._tcp.mx.dane-ee.test", RecordType::TLSA),
    ] {
        let a = dns.lookup(&n(name), rtype).await;
        assert_eq!(
            (&a.outcome, a.dnssec.is_secure()),
            (&DnsOutcome::Data, true),
            "{name} {rtype:?} after the resolver closed the connection: {a:?}"
        );
    }
    assert!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) > before,
        "answered on a new connection"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_the_closing_connection_dropped_is_asked_again() {
    let world = World::start(Options {
        net: 96,
        smtp_port: 2596,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    // The validating connection is the relay's second (the plain one comes first); its second
    // read is cut.
    let (relay, accepted) = closing_relay(
        world.resolver,
        std::time::Duration::from_secs(30),
        Some((1, 1)),
    )
    .await;
    let dns = Dns::connect(relay, None).await.expect("resolver");
    for (name, rtype) in [
        ("dane-ee.test", RecordType::MX),
        ("mx.dane-ee.test", RecordType::A),
        ("_25._tcp.mx.dane-ee.test", RecordType::TLSA),
    ] {
        let a = dns.lookup(&n(name), rtype).await;
        assert_eq!(
            a.outcome,
            DnsOutcome::Data,
            "{name} {rtype:?} with the connection cut under a query: {a:?}"
        );
    }
    assert!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "asked again on a new connection"
    );
    world.stop().await;
}
