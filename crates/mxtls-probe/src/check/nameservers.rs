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

/// Zones compared: the domain's, those of the first MX hosts, and their parents (for DS).
const MAX_ZONES: usize = 6;
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
            if let Some(z) = entry(&mut zones, &zone) {
                z.for_names.push((*name).clone());
            }
        }
        // The parents' servers are asked for the DS of each zone (a secondary of the parent
        // that missed a DS change breaks the chain of trust for its resolvers).
        let children: Vec<DnsName> = zones.iter().map(|z| z.zone.clone()).collect();
        let parents = join_all(
            children
                .iter()
                .filter_map(|c| c.parent())
                .map(|p| async move { self.zone_of(&p).await }),
        )
        .await;
        for (child, parent) in children.iter().filter(|c| !c.is_root()).zip(parents) {
            if let Some(z) = parent.and_then(|p| entry(&mut zones, &p)) {
                z.delegations.push(child.clone());
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
        // An RRset is a set: in one order, so that every path records the same evidence.
        zone.ns = mxtls_core::dns::ns_names(&ns);
        zone.ns.sort();
        zone.ns.dedup();
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
        // In one order (name, then address), whatever order the resolver gave them in.
        let mut found: Vec<(DnsName, IpAddr)> = lookups
            .iter()
            .flat_map(|(name, answer)| {
                mxtls_core::dns::addresses(answer)
                    .into_iter()
                    .map(move |ip| (name.clone(), ip))
            })
            .collect();
        found.sort();
        found.dedup();
        let mut addresses: Vec<(DnsName, IpAddr)> = Vec::new();
        for (name, ip) in found {
            if !self.config.allow_private_targets
                && let Err(why) = target::check(ip)
            {
                zone.skipped.push(format!("{name} ({ip}): {why}"));
            } else if addresses.len() < MAX_ADDRESSES {
                addresses.push((name, ip));
            } else {
                zone.skipped
                    .push(format!("{name} ({ip}): over {MAX_ADDRESSES} addresses"));
            }
        }
        let questions = questions(domain, &zone);
        let limit = self.config.deadlines.dns_query.min(ANSWER_LIMIT);
        let source = self.config.source;
        zone.servers = join_all(addresses.into_iter().map(|(name, ip)| {
            let questions = &questions;
            async move {
                let server = SocketAddr::new(ip, DNS_PORT);
                let answers = join_all(
                    questions
                        .iter()
                        .map(|(n, t)| crate::nameservers::ask(server, n, *t, limit, source)),
                )
                .await;
                ServerAnswers { name, ip, answers }
            }
        }))
        .await;
        zone
    }
}

/// `zone`'s entry in `zones`, made if there is room.
fn entry<'z>(zones: &'z mut Vec<ZoneServers>, zone: &DnsName) -> Option<&'z mut ZoneServers> {
    if let Some(at) = zones.iter().position(|z| &z.zone == zone) {
        return zones.get_mut(at);
    }
    if zones.len() >= MAX_ZONES {
        return None;
    }
    zones.push(ZoneServers {
        zone: zone.clone(),
        for_names: Vec::new(),
        delegations: Vec::new(),
        ns: Vec::new(),
        servers: Vec::new(),
        skipped: Vec::new(),
    });
    zones.last_mut()
}

/// What every server of `zone` is asked, in order: SOA and DNSKEY at the apex, the MX RRset
/// where the domain is in this zone, the TLSA names of the hosts in it, and the DS of the
/// child zones on the path.
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
    for child in &zone.delegations {
        q.push((child.clone(), RecordType::DS));
    }
    q
}
