//! The authoritative servers of a zone compared (`Evidence::authoritative`): RRsets as sets
//! (TTL and order ignored, as resolvers treat them), SOA serials in serial arithmetic
//! (RFC 1982), and when each server's signatures run out. Zonemaster flags TTL and order
//! differences as errors; they change nothing for a sender, so they are not differences here.

use std::net::IpAddr;

use crate::evidence::{DirectAnswer, UnixTime, ZoneServers};
use crate::names::{DnsName, RecordType};

/// How one server differs from the rest of its zone's servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// No usable response to any question.
    NoAnswer { why: String },
    /// A response without the AA bit, or REFUSED/SERVFAIL: the server does not serve the
    /// zone (a lame delegation).
    NotAuthoritative { rcode: u16 },
    /// An older SOA serial than the newest any server has.
    SerialBehind { serial: u32, newest: u32 },
    /// Another answer to `qname`/`qtype` than most servers give: `missing` records they
    /// have and it lacks, `extra` ones only it has (RDATA), `rcode` where it differs.
    Records {
        qname: DnsName,
        qtype: RecordType,
        missing: usize,
        extra: usize,
        rcode: Option<u16>,
        /// It has none of the records: a denial (NXDOMAIN or NODATA).
        none: bool,
    },
    /// Its signatures over `qname`/`qtype` expire at `at`, before the other servers' (at
    /// `others`).
    ExpiresFirst {
        qname: DnsName,
        qtype: RecordType,
        at: UnixTime,
        others: UnixTime,
    },
}

/// One server's difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDifference {
    pub zone: DnsName,
    pub server: DnsName,
    pub ip: IpAddr,
    pub difference: Difference,
}

/// What a server answered to one question, as compared: the response code and the RRset.
type View = (u16, Vec<Vec<u8>>);

fn view(a: &DirectAnswer) -> Option<View> {
    let rcode = a.rcode?;
    if a.error.is_some() {
        return None;
    }
    let mut set: Vec<Vec<u8>> = a
        .records
        .iter()
        .filter(|r| r.rtype == a.qtype && r.name == a.qname)
        .map(|r| r.rdata.0.clone())
        .collect();
    set.sort_unstable();
    set.dedup();
    Some((rcode, set))
}

/// A usable authoritative response: AA set, NOERROR or NXDOMAIN.
fn authoritative(a: &DirectAnswer) -> bool {
    a.error.is_none() && a.authoritative && matches!(a.rcode, Some(0 | 3))
}

/// The SOA serial of an SOA answer (RFC 1035 §3.3.13: after MNAME and RNAME).
pub fn serial(a: &DirectAnswer) -> Option<u32> {
    let rdata = &a
        .records
        .iter()
        .find(|r| r.rtype == RecordType::SOA)?
        .rdata
        .0;
    // Two names, each ending in a root label or a compression pointer (our encoder
    // compresses the second against the first).
    let mut pos = 0;
    for _ in 0..2 {
        loop {
            let len = usize::from(*rdata.get(pos)?);
            if len & 0xc0 == 0xc0 {
                pos += 2;
                break;
            }
            if len & 0xc0 != 0 {
                return None;
            }
            pos += 1 + len;
            if len == 0 {
                break;
            }
        }
    }
    let b = rdata.get(pos..pos + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The earliest expiry of the RRSIGs over `a`'s RRset.
fn expiry(a: &DirectAnswer, near: UnixTime) -> Option<UnixTime> {
    a.records
        .iter()
        .filter(|r| r.rtype == RecordType::RRSIG)
        .filter_map(|r| crate::dnssec::rrsig(&r.rdata.0, near))
        .filter(|s| s.type_covered == a.qtype)
        .map(|s| s.expiration)
        .min()
}

/// Whether serial `a` is older than `b` (RFC 1982 §3.2).
fn behind(a: u32, b: u32) -> bool {
    a != b && (b.wrapping_sub(a) as i32) > 0
}

/// Every server of `zone` that differs from the rest, judged at `now`; signatures count
/// when they expire within `horizon` seconds and a day or more before the other servers'.
pub fn compare(zone: &ZoneServers, now: UnixTime, horizon: i64) -> Vec<ServerDifference> {
    let mut out = Vec::new();
    let mut push = |s: &crate::evidence::ServerAnswers, difference| {
        out.push(ServerDifference {
            zone: zone.zone.clone(),
            server: s.name.clone(),
            ip: s.ip,
            difference,
        })
    };
    // Servers with no usable response at all, or none with authority, are said so once.
    let mut serving = Vec::new();
    for s in &zone.servers {
        if s.answers.iter().all(|a| a.rcode.is_none()) {
            let why = s
                .answers
                .iter()
                .find_map(|a| a.error.clone())
                .unwrap_or_else(|| "no response".into());
            push(s, Difference::NoAnswer { why });
        } else if !s.answers.iter().any(authoritative) {
            let rcode = s.answers.iter().find_map(|a| a.rcode).unwrap_or(0);
            push(s, Difference::NotAuthoritative { rcode });
        } else {
            serving.push(s);
        }
    }
    // SOA serials: behind the newest.
    let serials: Vec<(usize, u32)> = serving
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.answers
                .iter()
                .find(|a| a.qtype == RecordType::SOA)
                .and_then(serial)
                .map(|n| (i, n))
        })
        .collect();
    let newest = serials
        .iter()
        .map(|(_, n)| *n)
        .reduce(|a, b| if behind(a, b) { b } else { a });
    if let Some(newest) = newest {
        for (i, serial) in &serials {
            if behind(*serial, newest) {
                push(
                    serving[*i],
                    Difference::SerialBehind {
                        serial: *serial,
                        newest,
                    },
                );
            }
        }
    }
    // Every other question: the answer most servers give is the reference.
    let questions: Vec<(DnsName, RecordType)> = serving
        .first()
        .map(|s| {
            s.answers
                .iter()
                .map(|a| (a.qname.clone(), a.qtype))
                .collect()
        })
        .unwrap_or_default();
    // Each server's earliest expiry, once.
    let mut first: Vec<(usize, Difference)> = Vec::new();
    for (qname, qtype) in questions.iter().filter(|(_, t)| *t != RecordType::SOA) {
        let answer_of = |s: &crate::evidence::ServerAnswers| -> Option<DirectAnswer> {
            s.answers
                .iter()
                .find(|a| &a.qname == qname && a.qtype == *qtype)
                .cloned()
        };
        let views: Vec<(usize, View)> = serving
            .iter()
            .enumerate()
            .filter_map(|(i, s)| answer_of(s).as_ref().and_then(view).map(|v| (i, v)))
            .collect();
        let Some(reference) = majority(&views, &serials) else {
            continue;
        };
        for (i, v) in &views {
            if *v == reference {
                continue;
            }
            push(
                serving[*i],
                Difference::Records {
                    qname: qname.clone(),
                    qtype: *qtype,
                    missing: reference.1.iter().filter(|r| !v.1.contains(r)).count(),
                    extra: v.1.iter().filter(|r| !reference.1.contains(r)).count(),
                    rcode: (v.0 != reference.0).then_some(v.0),
                    none: v.1.is_empty(),
                },
            );
        }
        // Signatures that run out on one server first: each server's earliest, once.
        let expiries: Vec<(usize, UnixTime)> = serving
            .iter()
            .enumerate()
            .filter_map(|(i, s)| answer_of(s).and_then(|a| expiry(&a, now)).map(|e| (i, e)))
            .collect();
        let Some(latest) = expiries.iter().map(|(_, e)| *e).max() else {
            continue;
        };
        for (i, at) in &expiries {
            let earlier = first.iter().position(|(j, _)| j == i);
            let sooner = earlier.is_none_or(|k| match &first[k].1 {
                Difference::ExpiresFirst { at: was, .. } => at < was,
                _ => false,
            });
            if at.0 - now.0 <= horizon && latest.0 - at.0 >= 86_400 && sooner {
                let d = Difference::ExpiresFirst {
                    qname: qname.clone(),
                    qtype: *qtype,
                    at: *at,
                    others: latest,
                };
                match earlier {
                    Some(k) => first[k].1 = d,
                    None => first.push((*i, d)),
                }
            }
        }
    }
    first.sort_by_key(|(i, _)| *i);
    for (i, d) in first {
        push(serving[i], d);
    }
    out
}

/// The view most servers share; a tie goes to the view of the server with the newest serial.
fn majority(views: &[(usize, View)], serials: &[(usize, u32)]) -> Option<View> {
    let mut counted: Vec<(&View, usize, u32)> = Vec::new();
    for (i, v) in views {
        let serial = serials.iter().find(|(j, _)| j == i).map_or(0, |(_, n)| *n);
        match counted.iter_mut().find(|(w, _, _)| *w == v) {
            Some(c) => {
                c.1 += 1;
                c.2 = c.2.max(serial);
            }
            None => counted.push((v, 1, serial)),
        }
    }
    counted
        .into_iter()
        .max_by_key(|(_, n, serial)| (*n, *serial))
        .map(|(v, _, _)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Bytes, Record, ServerAnswers};

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("a name")
    }

    fn wire_name(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for l in s.split('.') {
            out.push(l.len() as u8);
            out.extend(l.as_bytes());
        }
        out.push(0);
        out
    }

    fn record(owner: &str, rtype: RecordType, rdata: Vec<u8>) -> Record {
        Record {
            name: name(owner),
            rtype,
            ttl: 300,
            rdata: Bytes(rdata),
        }
    }

    fn soa(serial: u32) -> Vec<u8> {
        // As the probe records it: the second name compressed against the first.
        let mut r = wire_name("ns.test");
        r.extend([10]);
        r.extend(b"hostmaster");
        r.extend([0xc0, 3]);
        r.extend(serial.to_be_bytes());
        r.extend([0; 16]);
        r
    }

    fn rrsig(covered: RecordType, expiration: u32) -> Vec<u8> {
        let mut r = u16::from(covered.0).to_be_bytes().to_vec();
        r.extend([13, 3, 0, 0, 1, 44]);
        r.extend(expiration.to_be_bytes());
        r.extend(1_000u32.to_be_bytes());
        r.extend([0, 1]);
        r.extend(wire_name("example.org"));
        r.extend([0; 64]);
        r
    }

    fn answer(qname: &str, qtype: RecordType, rcode: u16, records: Vec<Record>) -> DirectAnswer {
        DirectAnswer {
            qname: name(qname),
            qtype,
            rcode: Some(rcode),
            authoritative: true,
            records,
            wire: None,
            error: None,
            elapsed_ms: Some(1),
        }
    }

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    /// A server of example.org: its serial, whether it has the TLSA record, and when its
    /// signatures expire.
    fn server(ip: &str, serial: u32, tlsa: bool, expires: i64) -> ServerAnswers {
        let tlsa_name = "_25._tcp.mx.example.org";
        let tlsa_answer = if tlsa {
            answer(
                tlsa_name,
                RecordType::TLSA,
                0,
                vec![
                    record(tlsa_name, RecordType::TLSA, vec![3, 1, 1, 0xaa, 0xbb]),
                    record(
                        tlsa_name,
                        RecordType::RRSIG,
                        rrsig(RecordType::TLSA, expires as u32),
                    ),
                ],
            )
        } else {
            answer(tlsa_name, RecordType::TLSA, 3, Vec::new())
        };
        ServerAnswers {
            name: name("ns.example.org"),
            ip: ip.parse().expect("an address"),
            answers: vec![
                answer(
                    "example.org",
                    RecordType::SOA,
                    0,
                    vec![record("example.org", RecordType::SOA, soa(serial))],
                ),
                answer(
                    "example.org",
                    RecordType::MX,
                    0,
                    vec![
                        record("example.org", RecordType::MX, vec![0, 10, 2, b'm', b'x', 0]),
                        record(
                            "example.org",
                            RecordType::RRSIG,
                            rrsig(RecordType::MX, expires as u32),
                        ),
                    ],
                ),
                tlsa_answer,
            ],
        }
    }

    fn zone(servers: Vec<ServerAnswers>) -> ZoneServers {
        ZoneServers {
            zone: name("example.org"),
            for_names: vec![name("example.org")],
            delegations: Vec::new(),
            ns: Vec::new(),
            servers,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn servers_that_agree_show_no_difference_whatever_their_ttl_and_order() {
        let a = server("192.0.2.1", 7, true, NOW + 30 * DAY);
        let mut b = server("192.0.2.2", 7, true, NOW + 30 * DAY);
        for answer in &mut b.answers {
            answer.records.reverse();
            answer.records.iter_mut().for_each(|r| r.ttl = 60);
        }
        assert_eq!(compare(&zone(vec![a, b]), UnixTime(NOW), 3 * DAY), []);
    }

    #[test]
    fn a_stale_secondary_is_named_for_each_way_it_differs_once() {
        let primary = server("192.0.2.1", 8, true, NOW + 30 * DAY);
        let other = server("192.0.2.3", 8, true, NOW + 30 * DAY);
        let stale = server("192.0.2.2", 7, false, NOW + 2 * DAY);
        let mut silent = server("192.0.2.4", 8, true, NOW);
        for a in &mut silent.answers {
            a.rcode = None;
            a.error = Some("no answer within 2 s".into());
        }
        let found = compare(
            &zone(vec![primary, stale, other, silent]),
            UnixTime(NOW),
            3 * DAY,
        );
        let kinds: Vec<(String, &Difference)> = found
            .iter()
            .map(|d| (d.ip.to_string(), &d.difference))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    "192.0.2.4".to_owned(),
                    &Difference::NoAnswer {
                        why: "no answer within 2 s".into()
                    }
                ),
                (
                    "192.0.2.2".to_owned(),
                    &Difference::SerialBehind {
                        serial: 7,
                        newest: 8
                    }
                ),
                (
                    "192.0.2.2".to_owned(),
                    &Difference::Records {
                        qname: name("_25._tcp.mx.example.org"),
                        qtype: RecordType::TLSA,
                        missing: 1,
                        extra: 0,
                        rcode: Some(3),
                        none: true,
                    }
                ),
                (
                    "192.0.2.2".to_owned(),
                    &Difference::ExpiresFirst {
                        qname: name("example.org"),
                        qtype: RecordType::MX,
                        at: UnixTime(NOW + 2 * DAY),
                        others: UnixTime(NOW + 30 * DAY),
                    }
                ),
            ]
        );
        assert!(behind(u32::MAX, 1), "serial arithmetic wraps (RFC 1982)");
        assert!(!behind(1, u32::MAX));
    }
}
