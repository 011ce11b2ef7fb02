//! A hosting provider's portfolio, for the scale benchmark (issue 27): one signed zone,
//! `portfolio.test`, holding many mail domains — `shop-N.portfolio.test`, whose MX is one of a
//! few shared mail hosts `mx-K.portfolio.test` (one address each, as at a provider), and
//! `own-N.portfolio.test`, each with its own mail host `mx.own-N.portfolio.test` on its own
//! address. Every mail host is a STARTTLS server of the world (`smtp`, `Behaviour::Normal`)
//! with a certificate for its name from the world's PKI; some publish TLSA records (every
//! other shared host `3 1 1`; of the own hosts every fourth `3 1 1` and every fourth `2 1 1`),
//! the rest are PKIX only.
//!
//! Addresses: the shared hosts on `127.<net>.10.K`, the own hosts on `127.<net>.11.1` …
//! `127.<net>.19.250` (hence at most 250 shared hosts and 2,250 own ones). The domains are
//! in-zone names (not delegations), so one `ldns-signzone` signs them all: 10,500 domains in a
//! few seconds.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::pki::{Error, KeyAlg, Pki};
use crate::scenarios::{Behaviour, Secondary, Signing};
use crate::{smtp, zones};

/// The zone every portfolio domain lives in.
pub const ZONE: &str = "portfolio.test";
/// The most shared hosts (one `/24`'s worth of addresses).
pub const MAX_SHARED_ADDRESSES: usize = 250;
/// The most domains with a mail host of their own (nine `/24`s).
pub const MAX_OWN: usize = 9 * 250;

/// How big a portfolio is ([`crate::Options::portfolio`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Domains whose MX is one of the shared hosts (spread evenly over them).
    pub shared_domains: usize,
    /// Shared mail hosts, one address each.
    pub shared_addresses: usize,
    /// Domains with a mail host and address of their own.
    pub own: usize,
}

impl Shape {
    /// Issue 27's: 10,000 domains over 20 shared MX addresses, and 500 with their own.
    pub const ISSUE: Shape = Shape {
        shared_domains: 10_000,
        shared_addresses: 20,
        own: 500,
    };

    /// Every domain of the portfolio.
    pub fn total(&self) -> usize {
        self.shared_domains + self.own
    }
}

/// A portfolio as started.
#[derive(Debug, Clone)]
pub struct Portfolio {
    /// Every domain, as an operator's list would have them: the own-host domains spread
    /// evenly among the shared ones.
    pub domains: Vec<String>,
    /// The shared hosts' addresses (`mx-1` first).
    pub shared: Vec<IpAddr>,
    /// The own hosts' addresses (`own-1`'s first).
    pub own: Vec<IpAddr>,
    /// Domains whose mail host publishes TLSA records.
    pub dane_domains: usize,
}

impl Portfolio {
    /// Every mail host's address: the shared ones, then the own ones.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.shared.iter().chain(&self.own).copied()
    }
}

/// The domain list of `shape` in the order [`Portfolio::domains`] has it: an own-host domain
/// wherever the share of them so far falls behind their share of the whole.
fn ordered(shape: Shape) -> Vec<String> {
    let total = shape.total();
    let (mut shared, mut own) = (0, 0);
    (0..total)
        .map(|p| {
            let due = (p + 1) * shape.own / total;
            if own < shape.own && (own < due || shared == shape.shared_domains) {
                own += 1;
                format!("own-{own}.{ZONE}")
            } else {
                shared += 1;
                format!("shop-{shared}.{ZONE}")
            }
        })
        .collect()
}

/// The zone, its mail servers (serving until aborted) and what a benchmark needs to know.
pub async fn build(
    pki: &Pki,
    net: u8,
    smtp_port: u16,
    shape: Shape,
    log: Arc<smtp::SessionLog>,
) -> Result<(zones::Zone, Vec<tokio::task::JoinHandle<()>>, Portfolio), Error> {
    if shape.shared_addresses > MAX_SHARED_ADDRESSES
        || shape.own > MAX_OWN
        || (shape.shared_domains > 0 && shape.shared_addresses == 0)
    {
        return Err(format!(
            "a portfolio takes 1 to {MAX_SHARED_ADDRESSES} shared addresses (for any shared \
             domains) and at most {MAX_OWN} own hosts, not {shape:?}"
        )
        .into());
    }
    let mut body = String::with_capacity(shape.total() * 48);
    let mut servers = Vec::new();
    let mut portfolio = Portfolio {
        domains: ordered(shape),
        shared: Vec::new(),
        own: Vec::new(),
        dane_domains: 0,
    };
    // (host label relative to the zone, address, TLSA usage if any)
    let mut hosts: Vec<(String, Ipv4Addr, Option<u8>)> = Vec::new();
    for k in 1..=shape.shared_addresses {
        let at = Ipv4Addr::new(127, net, 10, k as u8);
        portfolio.shared.push(IpAddr::V4(at));
        hosts.push((format!("mx-{k}"), at, (k % 2 == 1).then_some(3)));
    }
    for i in 1..=shape.own {
        let at = Ipv4Addr::new(
            127,
            net,
            11 + ((i - 1) / 250) as u8,
            1 + ((i - 1) % 250) as u8,
        );
        portfolio.own.push(IpAddr::V4(at));
        let usage = match i % 4 {
            0 => Some(3),
            1 => Some(2),
            _ => None,
        };
        let _ = writeln!(body, "own-{i} IN MX 10 mx.own-{i}.{ZONE}.");
        hosts.push((format!("mx.own-{i}"), at, usage));
        portfolio.dane_domains += usize::from(usage.is_some());
    }
    for i in 1..=shape.shared_domains {
        let k = (i - 1) % shape.shared_addresses + 1;
        let _ = writeln!(body, "shop-{i} IN MX 10 mx-{k}.{ZONE}.");
        portfolio.dane_domains += usize::from(k % 2 == 1);
    }
    for (label, at, usage) in &hosts {
        let name = format!("{label}.{ZONE}");
        let leaf = pki.leaf(std::slice::from_ref(&name), KeyAlg::Ecdsa, false, true)?;
        let _ = writeln!(body, "{label} IN A {at}");
        match usage {
            Some(3) => {
                let _ = writeln!(
                    body,
                    "_25._tcp.{label} IN TLSA 3 1 1 {}",
                    leaf.spki_sha256()
                );
            }
            Some(_) => {
                let data = pki.intermediate_spki_sha256();
                let _ = writeln!(body, "_25._tcp.{label} IN TLSA 2 1 1 {data}");
            }
            None => {}
        }
        let server = smtp::Server {
            hostname: name,
            behaviour: Behaviour::Normal,
            banner_delay: std::time::Duration::ZERO,
            tls: Some(smtp::tls_config(&leaf, None)?),
            log: log.clone(),
        };
        servers.push(smtp::listen(SocketAddr::new(IpAddr::V4(*at), smtp_port), server).await?);
    }
    let zone = zones::Zone {
        origin: format!("{ZONE}."),
        body,
        signing: Signing::Signed,
        first_host: hosts
            .first()
            .map(|(label, _, _)| format!("{label}.{ZONE}."))
            .unwrap_or_else(|| format!("{ZONE}.")),
        secondary: Secondary::None,
    };
    Ok((zone, servers, portfolio))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_spreads_the_own_domains_among_the_shared_ones() {
        let list = ordered(Shape::ISSUE);
        assert_eq!(list.len(), 10_500);
        let unique: std::collections::HashSet<&String> = list.iter().collect();
        assert_eq!(unique.len(), 10_500);
        let own: Vec<usize> = list
            .iter()
            .enumerate()
            .filter(|(_, d)| d.starts_with("own-"))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(own.len(), 500);
        // One in 21, evenly.
        assert!(
            own.windows(2).all(|w| (20..=22).contains(&(w[1] - w[0]))),
            "{own:?}"
        );
        assert_eq!((own[0], own[499]), (20, 10_499));
        let small = ordered(Shape {
            shared_domains: 0,
            shared_addresses: 0,
            own: 3,
        });
        assert_eq!(
            small,
            [
                "own-1.portfolio.test",
                "own-2.portfolio.test",
                "own-3.portfolio.test"
            ]
        );
    }
}
