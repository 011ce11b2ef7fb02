//! The target policy: a public probe connects wherever DNS points, which makes it an SSRF
//! door. Only global unicast addresses may be connected to; everything in the IANA
//! special-purpose registries (RFC 6890 and successors) is refused, and so are addresses that
//! embed a refused IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, NAT64).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` may be connected to, and if not, why (for the `address-refused` finding).
pub fn check(ip: IpAddr) -> Result<(), &'static str> {
    match ip {
        IpAddr::V4(v4) => check_v4(v4),
        IpAddr::V6(v6) => check_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn check_v4(ip: Ipv4Addr) -> Result<(), &'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "\"this network\" address (RFC 791)"),
        ([10, 0, 0, 0], 8, "private-use address (RFC 1918)"),
        (
            [100, 64, 0, 0],
            10,
            "shared address space / CGNAT (RFC 6598)",
        ),
        ([127, 0, 0, 0], 8, "loopback address (RFC 1122)"),
        ([169, 254, 0, 0], 16, "link-local address (RFC 3927)"),
        ([172, 16, 0, 0], 12, "private-use address (RFC 1918)"),
        ([192, 0, 0, 0], 24, "IETF protocol assignment (RFC 6890)"),
        ([192, 0, 2, 0], 24, "documentation address (RFC 5737)"),
        (
            [192, 88, 99, 0],
            24,
            "deprecated 6to4 relay anycast (RFC 7526)",
        ),
        ([192, 168, 0, 0], 16, "private-use address (RFC 1918)"),
        ([198, 18, 0, 0], 15, "benchmarking address (RFC 2544)"),
        ([198, 51, 100, 0], 24, "documentation address (RFC 5737)"),
        ([203, 0, 113, 0], 24, "documentation address (RFC 5737)"),
        ([224, 0, 0, 0], 4, "multicast address (RFC 5771)"),
        ([240, 0, 0, 0], 4, "reserved address (RFC 1112)"),
    ];
    match RANGES.iter().find(|(net, len, _)| in_v4(ip, *net, *len)) {
        Some((_, _, why)) => Err(why),
        None => Ok(()),
    }
}

fn check_v6(ip: Ipv6Addr) -> Result<(), &'static str> {
    let seg = ip.segments();
    let bits = u128::from(ip);
    let in_net = |net: u128, len: u32| bits >> (128 - len) == net >> (128 - len);
    let embedded_v4 =
        |offset_bits: u32| Ipv4Addr::from(((bits >> offset_bits) & 0xffff_ffff) as u32);

    if ip.is_unspecified() {
        return Err("unspecified address");
    }
    if ip.is_loopback() {
        return Err("loopback address (RFC 4291)");
    }
    if seg[..5] == [0; 5] && (seg[5] == 0xffff || seg[5] == 0) {
        // ::ffff:a.b.c.d and ::a.b.c.d reach IPv4 through an IPv6 socket.
        return Err("IPv4-mapped or IPv4-compatible address (RFC 4291)");
    }
    if in_net(0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96) {
        return check_v4(embedded_v4(0))
            .map_err(|_| "NAT64 address embedding a non-public IPv4 address (RFC 6052)");
    }
    if in_net(0x2002_0000_0000_0000_0000_0000_0000_0000, 16) {
        return check_v4(embedded_v4(80))
            .map_err(|_| "6to4 address embedding a non-public IPv4 address (RFC 3056)");
    }
    const RANGES: &[(u128, u32, &str)] = &[
        (
            0x0064_ff9b_0001_0000_0000_0000_0000_0000,
            48,
            "local-use NAT64 address (RFC 8215)",
        ),
        (
            0x0100_0000_0000_0000_0000_0000_0000_0000,
            64,
            "discard-only address (RFC 6666)",
        ),
        (
            0x2001_0000_0000_0000_0000_0000_0000_0000,
            23,
            "IETF protocol assignment (RFC 2928), e.g. Teredo or benchmarking",
        ),
        (
            0x2001_0db8_0000_0000_0000_0000_0000_0000,
            32,
            "documentation address (RFC 3849)",
        ),
        (
            0x3fff_0000_0000_0000_0000_0000_0000_0000,
            20,
            "documentation address (RFC 9637)",
        ),
        (
            0x5f00_0000_0000_0000_0000_0000_0000_0000,
            16,
            "segment routing SID (RFC 9602)",
        ),
        (
            0xfc00_0000_0000_0000_0000_0000_0000_0000,
            7,
            "unique local address (RFC 4193)",
        ),
        (
            0xfe80_0000_0000_0000_0000_0000_0000_0000,
            10,
            "link-local address (RFC 4291)",
        ),
        (
            0xfec0_0000_0000_0000_0000_0000_0000_0000,
            10,
            "site-local address (RFC 3879)",
        ),
        (
            0xff00_0000_0000_0000_0000_0000_0000_0000,
            8,
            "multicast address (RFC 4291)",
        ),
    ];
    if let Some((_, _, why)) = RANGES.iter().find(|(net, len, _)| in_net(*net, *len)) {
        return Err(why);
    }
    // Global unicast is 2000::/3 (RFC 4291 §2.4); everything else is unassigned.
    if !in_net(0x2000_0000_0000_0000_0000_0000_0000_0000, 3) {
        return Err("not a global unicast address (outside 2000::/3)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> bool {
        check(s.parse().unwrap()).is_ok()
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "8.8.8.8",
            "193.0.6.139",
            "2a00:1450:4001:80b::201a",
            "2001:4860::1",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(ok(a), "{a} should be allowed");
        }
    }

    /// RFC 6890 and successors: special-purpose ranges are refused, with embedded forms.
    #[test]
    fn special_purpose_addresses_are_refused() {
        for a in [
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "127.53.0.1",
            "169.254.1.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:8.8.8.8",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::25",
            "2002:7f00:0001::1",
            "2002:0a00:0001::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "4000::1",
        ] {
            assert!(!ok(a), "{a} should be refused");
        }
    }
}
