//! Every authoritative server of the zones on the path, asked directly (`crate::nameservers`):
//! the zone of the domain and of each MX host (found from the SOA the resolver answers with),
//! its NS names and their addresses (bounded, under the target policy), then SOA, DNSKEY,
//! the MX RRset and the TLSA names of the hosts in that zone, of every server address at
//! once. It runs beside the SMTP sessions, so it never lengthens the check's critical path.

use std::net::{IpAddr, SocketAddr};

use futures_util::future::join_all;
use mxtls_core::evidence::{DnsOutcome, ServerAnswers, ZoneServers};
use mxtls_core::names::{DnsName, RecordType};

use super::Run;
use crate::target;

/// Zones compared: the domain's and those of the first MX hosts.
const MAX_ZONES: usize = 4;
/// NS names followed per zone.
const MAX_NS: usize = 6;
/// Server addresses asked per zone (IPv4 and IPv6 of every NS name, up to this many).
const MAX_ADDRESSES: usize = 10;
/// How long one server has for one answer: authoritative servers answer in milliseconds,
/// and a silent one must not keep the check waiting long after its sessions.
const ANSWER_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);
/// The port authoritative servers answer on.
const DNS_PORT: u16 = 53;

impl Run {
    /// The authoritative servers' answers for `domain`'s zone and the zones of `hosts`.
    pub(super) async fn nameservers(
        &self,
        domain: &DnsName,
        hosts: &[DnsName],
    ) -> Vec<ZoneServers> {
        let names: Vec<&DnsName> = std::iter::once(domain).chain(hosts).collect();
        let zones_of = join_all(names.iter().map(|n| self.zone_of(n))).await;
        let mut zones: Vec<ZoneServers> = Vec::new();
        for (name, zone) in names.iter().zip(zones_of) {
            let Some(zone) = zone else { continue };
            if let Some(z) = zones.iter_mut().find(|z| z.zone == zone) {
                z.for_names.push((*name).clone());
            } else if zones.len() < MAX_ZONES {
                zones.push(ZoneServers {
                    zone,
                    for_names: vec![(*name).clone()],
                    ns: Vec::new(),
                    servers: Vec::new(),
                    skipped: Vec::new(),
                });
            }
        }
        join_all(zones.into_iter().map(|z| self.zone_servers(domain, z))).await
    }

    /// The zone `name` is in: `name` itself where it has an SOA, else the owner of the SOA
    /// in the authority section of the resolver's negative answer.
    async fn zone_of(&self, name: &DnsName) -> Option<DnsName> {
        let answer = self.lookup(name, RecordType::SOA).await;
        if answer.outcome == DnsOutcome::Data {
            return Some(name.clone());
        }
        let wire = answer.wire.as_ref()?;
        mxtls_core::dnssec::message_records(&wire.0)
            .into_iter()
            .find(|r| r.rtype == RecordType::SOA)
            .map(|r| r.name)
    }

    async fn zone_servers(&self, domain: &DnsName, mut zone: ZoneServers) -> ZoneServers {
        let ns = self.lookup(&zone.zone, RecordType::NS).await;
        zone.ns = mxtls_core::dns::ns_names(&ns);
        if zone.ns.len() > MAX_NS {
            zone.skipped.push(format!(
                "{} NS names; the first {MAX_NS} were asked",
                zone.ns.len()
            ));
        }
        let lookups = join_all(zone.ns.iter().take(MAX_NS).flat_map(|n| {
            [RecordType::A, RecordType::AAAA]
                .into_iter()
                .map(move |t| async move { (n.clone(), self.lookup(n, t).await) })
        }))
        .await;
        let mut addresses: Vec<(DnsName, IpAddr)> = Vec::new();
        for (name, answer) in &lookups {
            for ip in mxtls_core::dns::addresses(answer) {
                if !self.config.allow_private_targets
                    && let Err(why) = target::check(ip)
                {
                    zone.skipped.push(format!("{name} ({ip}): {why}"));
                } else if addresses.len() < MAX_ADDRESSES {
                    addresses.push((name.clone(), ip));
                } else {
                    zone.skipped
                        .push(format!("{name} ({ip}): over {MAX_ADDRESSES} addresses"));
                }
            }
        }
        let questions = questions(domain, &zone);
        let limit = self.config.deadlines.dns_query.min(ANSWER_LIMIT);
        zone.servers = join_all(addresses.into_iter().map(|(name, ip)| {
            let questions = &questions;
            async move {
                let server = SocketAddr::new(ip, DNS_PORT);
                let answers = join_all(
                    questions
                        .iter()
                        .map(|(n, t)| crate::nameservers::ask(server, n, *t, limit)),
                )
                .await;
                ServerAnswers { name, ip, answers }
            }
        }))
        .await;
        zone
    }
}

/// What every server of `zone` is asked, in order: SOA and DNSKEY at the apex, the MX RRset
/// where the domain is in this zone, and the TLSA names of the hosts in it.
fn questions(domain: &DnsName, zone: &ZoneServers) -> Vec<(DnsName, RecordType)> {
    let mut q = vec![
        (zone.zone.clone(), RecordType::SOA),
        (zone.zone.clone(), RecordType::DNSKEY),
    ];
    for name in &zone.for_names {
        if name == domain {
            q.push((name.clone(), RecordType::MX));
        } else {
            q.push((name.tlsa_owner(25), RecordType::TLSA));
        }
    }
    q
}
