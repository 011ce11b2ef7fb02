//! Who a client is, for the limits: the key its quotas are counted under, the address behind
//! a trusted reverse proxy, the per-minute quota, and whether a browser request came from our
//! own pages.
//!
//! Keys are an IPv4 address or an IPv6 /64: one IPv6 subscriber gets a whole /64 (RFC 6177)
//! and can rotate through it at will, so counting per address would hand out fresh quotas.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderMap;
use http::header;

/// The unit quotas are counted in: an IPv4 address or an IPv6 /64 (an IPv4-mapped IPv6
/// address counts as its IPv4 address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    ClientKey(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// An address block, `ADDR/LEN` or a bare address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    len: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.len),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let (bytes, bits) = (usize::from(len / 8), len % 8);
    a[..bytes] == b[..bytes] && (bits == 0 || (a[bytes] ^ b[bytes]) & (0xff_u8 << (8 - bits)) == 0)
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let bad = || format!("{text:?} is not an address block (ADDR/LEN, e.g. 10.0.0.0/8)");
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { network, len })
    }
}

/// The reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are believed. Without
/// any, the peer address is the client, and those headers are ignored: anyone can write them.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the nearest
    /// address in the forwarding chain that is not a trusted proxy (read right to left, as
    /// each proxy appends the address it received from). `Forwarded` (RFC 7239) is preferred
    /// to `X-Forwarded-For`; an unreadable chain counts as the proxy itself.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_for(headers).or_else(|| x_forwarded_for(headers));
        let Some(chain) = chain else {
            return peer;
        };
        for hop in chain.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => continue,
                Some(ip) => return *ip,
                // An obfuscated or unknown hop: nothing further left is believable.
                None => return peer,
            }
        }
        peer
    }
}

/// Whether a request may read `/metrics`, which names the watched domains. A request from a
/// trusted proxy is its forwarded client's, allowed only when that client is in
/// `metrics_from` — never for being the proxy, even a proxy on loopback, or anyone on the
/// internet would read through it. Loopback itself is allowed only when no trusted proxy
/// covers it; other peers only from `metrics_from`.
pub fn may_read_metrics(
    proxies: &TrustedProxies,
    metrics_from: &[Cidr],
    peer: IpAddr,
    headers: &HeaderMap,
) -> bool {
    let allowed = |ip: IpAddr| metrics_from.iter().any(|c| c.contains(ip));
    if proxies.trusts(peer) {
        return allowed(proxies.client(peer, headers));
    }
    peer.to_canonical().is_loopback() || allowed(peer)
}

/// The `for=` addresses of every `Forwarded` header, in order; `None` for a hop that is not
/// an address (`unknown`, an obfuscated identifier). `None` overall when there is no header
/// or one is unreadable.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut any = false;
    for value in headers.get_all(header::FORWARDED) {
        any = true;
        let text = value.to_str().ok()?;
        for element in text.split(',') {
            let Some(node) = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
            }) else {
                continue;
            };
            hops.push(parse_node(node.trim_matches('"')));
        }
    }
    (any && !hops.is_empty()).then_some(hops)
}

/// A `Forwarded` node: `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let host = match node.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => node,
    };
    host.parse().ok()
}

fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().ok()?;
        hops.extend(
            text.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(parse_node),
        );
    }
    (!hops.is_empty()).then_some(hops)
}

/// Checks a client may start per minute. A check is counted only when it starts a probe:
/// a refused request, a reused result or joining a running check spends nothing.
#[derive(Debug)]
pub struct Quota {
    per_minute: u32,
    windows: Mutex<HashMap<ClientKey, (Instant, u32)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Quota {
    pub fn new(per_minute: u32) -> Quota {
        Quota {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when `client` has used its quota.
    pub fn check(&self, client: ClientKey) -> Result<(), u64> {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(&client) {
            Some((start, used))
                if now.duration_since(*start) < WINDOW && *used >= self.per_minute =>
            {
                // Rounded up: a client that waits exactly this long is let in.
                let rest = WINDOW.saturating_sub(now.duration_since(*start));
                Err(u64::try_from(rest.as_millis().div_ceil(1000))
                    .unwrap_or(60)
                    .max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one started check. Memory stays bounded: stale windows are dropped whenever
    /// the table grows large.
    pub fn spend(&self, client: ClientKey) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 10_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

/// Whether a request that would start a check comes from another site's page. Browsers
/// send `Sec-Fetch-Site` (and `Origin` on cross-origin requests); a page elsewhere must not
/// make its visitors' browsers probe mail servers. Clients without either header (curl,
/// scripts) are not browsers acting for a third party and pass, within their limits.
/// `host` is the authority the client addressed (`Host`, or the proxy's `X-Forwarded-Host`).
pub fn cross_site(headers: &HeaderMap, host: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none`: the user typed the URL or opened a bookmark.
        return !matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let authority = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, a)| a);
    match (authority, host) {
        (Some(a), Some(h)) => !a.eq_ignore_ascii_case(h),
        _ => true,
    }
}

/// The authority a client addressed: `Host`, or the forwarded host where a trusted proxy
/// (`peer`) carries the request — what [`cross_site`] compares an `Origin` with.
pub fn addressed_host<'h>(
    proxies: &TrustedProxies,
    peer: IpAddr,
    headers: &'h HeaderMap,
) -> Option<&'h str> {
    proxies
        .trusts(peer)
        .then(|| headers.get("x-forwarded-host"))
        .flatten()
        .or_else(|| headers.get(header::HOST))
        .and_then(|h| h.to_str().ok())
}

/// The client key of batch checks: in RFC 6666's discard-only prefix (100::/64), so no
/// real client has it. A cluster's worker knows a batch's job by it (and checks it with
/// `reuse_first`).
pub fn batch_key() -> ClientKey {
    ClientKey::of(std::net::IpAddr::V6(std::net::Ipv6Addr::new(
        0x100, 0, 0, 0, 0, 0, 0, 1,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_counts_per_64_and_ipv4_per_address() {
        let a = ClientKey::of(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, ClientKey::of(ip("2001:db8:1:2:ffff:1:2:3")));
        assert_ne!(a, ClientKey::of(ip("2001:db8:1:3::1")));
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_ne!(
            ClientKey::of(ip("192.0.2.1")),
            ClientKey::of(ip("192.0.2.2"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.1")),
            ClientKey::of(ip("192.0.2.1"))
        );
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.200.0.1")) && !c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.0.0.1")));
        let c: Cidr = "2001:db8::/33".parse().unwrap();
        assert!(c.contains(ip("2001:db8:7fff::1")) && !c.contains(ip("2001:db8:8000::1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()]);
        let xff = headers(&[("x-forwarded-for", "198.51.100.7, 203.0.113.9, 10.1.1.1")]);
        // From the proxy: the rightmost address that is not a proxy.
        assert_eq!(proxies.client(ip("10.0.0.2"), &xff), ip("203.0.113.9"));
        // From anyone else: the header is ignored.
        assert_eq!(proxies.client(ip("192.0.2.1"), &xff), ip("192.0.2.1"));
        // Forwarded wins over X-Forwarded-For, with ports and IPv6 brackets.
        let both = headers(&[
            (
                "forwarded",
                r#"for=192.0.2.60;proto=http, for="[2001:db8::17]:4711""#,
            ),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &both), ip("2001:db8::17"));
        // An unknown hop: the proxy itself is the client.
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &unknown), ip("10.0.0.2"));
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn metrics_are_read_by_loopback_only_without_a_proxy_there() {
        let from: Vec<Cidr> = vec!["192.0.2.0/24".parse().unwrap()];
        let none = TrustedProxies::default();
        let local = TrustedProxies(vec!["127.0.0.1".parse().unwrap()]);
        let xff = |ip: &str| headers(&[("x-forwarded-for", ip)]);
        let may =
            |p: &TrustedProxies, peer: &str, h: &HeaderMap| may_read_metrics(p, &from, ip(peer), h);
        // No proxy: loopback (also IPv4-mapped) and the listed block; forged headers ignored.
        assert!(may(&none, "127.0.0.1", &HeaderMap::new()));
        assert!(may(&none, "::ffff:127.0.0.1", &HeaderMap::new()));
        assert!(may(&none, "192.0.2.7", &HeaderMap::new()));
        assert!(!may(&none, "198.51.100.1", &xff("192.0.2.7")));
        // A proxy on loopback: its requests are its clients', allowed only when listed.
        assert!(!may(&local, "127.0.0.1", &xff("198.51.100.1")));
        assert!(!may(&local, "127.0.0.1", &HeaderMap::new()));
        assert!(!may(&local, "127.0.0.1", &xff("127.0.0.1")));
        assert!(may(&local, "127.0.0.1", &xff("192.0.2.7")));
        // Another loopback address is not the proxy: still loopback.
        assert!(may(&local, "127.0.0.2", &HeaderMap::new()));
    }

    #[test]
    fn a_quota_is_spent_only_by_started_checks() {
        let quota = Quota::new(2);
        let c = ClientKey::of(ip("192.0.2.1"));
        assert!(quota.check(c).is_ok());
        quota.spend(c);
        assert!(quota.check(c).is_ok(), "checking does not spend");
        quota.spend(c);
        let wait = quota.check(c).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(quota.check(ClientKey::of(ip("192.0.2.2"))).is_ok());
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let host = Some("checker.example:8080");
        assert!(!cross_site(
            &headers(&[("sec-fetch-site", "same-origin")]),
            host
        ));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "none")]), host));
        assert!(cross_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            host
        ));
        assert!(cross_site(
            &headers(&[("sec-fetch-site", "same-site")]),
            host
        ));
        assert!(!cross_site(
            &headers(&[("origin", "http://checker.example:8080")]),
            host
        ));
        assert!(cross_site(
            &headers(&[("origin", "https://evil.example")]),
            host
        ));
        assert!(cross_site(&headers(&[("origin", "null")]), host));
        // curl: neither header.
        assert!(!cross_site(&HeaderMap::new(), host));
    }
}
