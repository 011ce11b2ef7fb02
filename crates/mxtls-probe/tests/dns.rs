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
