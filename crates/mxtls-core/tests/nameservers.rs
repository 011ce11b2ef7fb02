//! The authoritative servers in a report: a zone whose servers agree folds and adds nothing;
//! one server falling behind adds `ns-serial-behind` — which is what a watch's change notice
//! lists (`diff`), so the owner hears of it.

mod common;
use common::*;

use mxtls_core::analysis::diff;
use mxtls_core::evidence::{Bytes, DirectAnswer, Record, ServerAnswers, ZoneServers};
use mxtls_core::findings::Code;
use mxtls_core::names::RecordType;

fn soa(serial: u32) -> Vec<u8> {
    let mut r = Vec::new();
    for n in ["ns.example.org", "hostmaster.example.org"] {
        for l in n.split('.') {
            r.push(l.len() as u8);
            r.extend(l.as_bytes());
        }
        r.push(0);
    }
    r.extend(serial.to_be_bytes());
    r.extend([0; 16]);
    r
}

fn server(ip: &str, serial: u32) -> ServerAnswers {
    ServerAnswers {
        name: name("ns.example.org"),
        ip: ip.parse().expect("an address"),
        answers: vec![DirectAnswer {
            qname: name("example.org"),
            qtype: RecordType::SOA,
            rcode: Some(0),
            authoritative: true,
            records: vec![Record {
                name: name("example.org"),
                rtype: RecordType::SOA,
                ttl: 300,
                rdata: Bytes(soa(serial)),
            }],
            wire: None,
            error: None,
            elapsed_ms: Some(1),
        }],
    }
}

fn with_servers(servers: Vec<ServerAnswers>) -> mxtls_core::report::Report {
    let mut evidence = Scenario::new("example.org").evidence();
    evidence.authoritative = vec![ZoneServers {
        zone: name("example.org"),
        for_names: vec![name("example.org")],
        delegations: Vec::new(),
        ns: vec![name("ns.example.org")],
        servers,
        skipped: Vec::new(),
    }];
    mxtls_core::analyse(&evidence, NOW)
}

#[test]
fn a_server_falling_behind_is_a_change_the_watch_reports() {
    let before = with_servers(vec![server("192.0.2.1", 7), server("192.0.2.2", 7)]);
    assert!(!has(&before, Code::NsSerialBehind));
    assert!(before.nameservers[0].agree, "agreeing servers fold");
    let after = with_servers(vec![server("192.0.2.1", 8), server("192.0.2.2", 7)]);
    let behind = finding(&after, Code::NsSerialBehind);
    assert!(behind.title.contains("192.0.2.2"), "{}", behind.title);
    assert!(
        behind.title.contains("serial 7, newest 8"),
        "{}",
        behind.title
    );
    let table = &after.nameservers[0];
    assert!(!table.agree);
    assert_eq!(table.servers[1].differs, ["serial 7, newest 8"]);
    assert!(table.servers[0].differs.is_empty());
    let change = diff(Some(&before), &after);
    let added: Vec<Code> = change.added.iter().map(|f| f.code).collect();
    assert_eq!(added, [Code::NsSerialBehind]);
    assert!(change.removed.is_empty());
}

/// The zone's line and the glance under the grid take the colour of the zone's worst `ns-`
/// finding: calm where the servers agree, amber for a server one serial behind (a warning).
#[test]
fn the_words_are_as_calm_or_as_loud_as_the_findings() {
    use mxtls_core::present::{Mood, nameserver_glance, row_state, zone_line};
    let agree = with_servers(vec![server("192.0.2.1", 7), server("192.0.2.2", 7)]);
    let line = zone_line(&agree, &agree.nameservers[0]);
    assert_eq!(line.text, "example.org: 2 servers agree, serial 7");
    assert_eq!(line.mood, Mood::Good);
    let glance = nameserver_glance(&agree).expect("a glance");
    assert_eq!(
        (glance.text.as_str(), glance.mood),
        (
            "Name servers agree: the same answers from every server of 1 zone",
            Mood::Good
        )
    );

    let behind = with_servers(vec![server("192.0.2.1", 8), server("192.0.2.2", 7)]);
    let severity = finding(&behind, Code::NsSerialBehind).severity;
    assert_eq!(severity, mxtls_core::Severity::Warning);
    let line = zone_line(&behind, &behind.nameservers[0]);
    assert_eq!(
        (line.text.as_str(), line.mood),
        ("example.org: 1 of 2 servers disagree", Mood::Warn)
    );
    let glance = nameserver_glance(&behind).expect("a glance");
    assert_eq!(
        (glance.text.as_str(), glance.mood),
        ("Name servers disagree for example.org", Mood::Warn)
    );
    let zone = &behind.nameservers[0];
    let rows: Vec<_> = zone
        .servers
        .iter()
        .map(|s| row_state(&behind, zone, s))
        .collect();
    assert_eq!(
        rows.iter()
            .map(|w| (w.text.as_str(), w.mood))
            .collect::<Vec<_>>(),
        [("agrees", Mood::Good), ("serial 7, newest 8", Mood::Warn)]
    );
}
