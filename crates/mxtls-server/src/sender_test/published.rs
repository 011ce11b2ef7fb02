//! Looks at what the zone publishes for each test domain, through the probe's validating
//! resolver and its MTA-STS fetch, and asks the core what is wrong with it.

use std::time::Instant;

use mxtls_core::evidence::Bytes;
use mxtls_core::names::{RecordType, policy_host};
use mxtls_core::pkix::RootSet;
use mxtls_core::sender_test::Case;
use mxtls_core::sender_test::published::{Expected, Lookups, Problem, certificate, check};
use mxtls_core::sender_test::zone::spki_sha256;
use mxtls_probe::dns::Dns;

use super::Settings;

/// Every problem of every test domain; a resolver that cannot be reached is one problem for
/// each (nothing can be judged without it).
pub async fn look(settings: &Settings, probe: &mxtls_probe::Config) -> Vec<Problem> {
    let unjudged = |why: String| {
        Case::ALL
            .into_iter()
            .map(|case| Problem {
                case,
                record: "the checker's resolver".into(),
                problem: why.clone(),
            })
            .collect::<Vec<_>>()
    };
    let Some(leaf) = settings.chain.first() else {
        return unjudged("the receivers have no certificate".into());
    };
    let spki = match spki_sha256(leaf) {
        Ok(s) => s,
        Err(e) => return unjudged(format!("the receivers' certificate: {e}")),
    };
    let Some(upstream) = probe.resolver.or_else(mxtls_probe::dns::system_resolver) else {
        return unjudged("no resolver: give --resolver".into());
    };
    let dns = match Dns::connect_from(
        upstream,
        probe.trust_anchor.as_deref(),
        probe.deadlines.dns_query,
        probe.source,
    )
    .await
    {
        Ok(d) => d,
        Err(e) => return unjudged(format!("the resolver {upstream}: {e}")),
    };
    let expected = Expected {
        zone: settings.zone.clone(),
        receivers: settings.published_addresses(),
        spki_sha256: spki,
    };
    let looks = Case::ALL.into_iter().map(|case| {
        let (dns, zone) = (dns.clone(), settings.zone.clone());
        async move {
            let domain = case.domain(&zone);
            let host = case.mx_host(&zone);
            let owner = host.tlsa_owner(mxtls_core::sender_test::zone::SMTP_PORT);
            let (mx, a, aaaa, tlsa) = tokio::join!(
                dns.lookup(&domain, RecordType::MX),
                dns.lookup(&host, RecordType::A),
                dns.lookup(&host, RecordType::AAAA),
                dns.lookup(&owner, RecordType::TLSA),
            );
            let sts = if case.sts_enforce() {
                let txt_name = mxtls_core::names::DnsName::parse(&format!("_mta-sts.{domain}"))
                    .unwrap_or_else(|_| domain.clone());
                let policy = policy_host(&domain);
                let (txt, pa, paaaa) = tokio::join!(
                    dns.lookup(&txt_name, RecordType::TXT),
                    dns.lookup(&policy, RecordType::A),
                    dns.lookup(&policy, RecordType::AAAA),
                );
                let plan = mxtls_probe::mta_sts::Plan {
                    host: policy,
                    port: probe.https_port,
                    allow_private_targets: probe.allow_private_targets,
                    source: probe.source,
                    deadline: Instant::now() + probe.deadlines.policy_fetch,
                    limit: probe.deadlines.policy_fetch,
                };
                let fetch = mxtls_probe::mta_sts::fetch(&plan, vec![pa, paaaa]).await;
                Some((txt, fetch))
            } else {
                None
            };
            Lookups {
                case,
                mx,
                addresses: vec![a, aaaa],
                tlsa,
                sts,
            }
        }
    });
    let lookups = futures_util::future::join_all(looks).await;
    let mut problems: Vec<Problem> = lookups.iter().flat_map(|l| check(&expected, l)).collect();
    let chain: Vec<Bytes> = settings.chain.iter().map(|c| Bytes(c.to_vec())).collect();
    let extra: Vec<Bytes> = probe
        .extra_pkix_roots
        .iter()
        .map(|r| Bytes(r.clone()))
        .collect();
    problems.extend(certificate(
        &settings.zone,
        &chain,
        &RootSet::mozilla(),
        &extra,
        mxtls_probe::clock::unix_now(),
    ));
    problems
}
