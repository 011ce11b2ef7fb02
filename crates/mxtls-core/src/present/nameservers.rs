//! The authoritative servers in words: one line per zone, one state per server, and the
//! glance under the grid. The colour of a zone is that of the worst `ns-` finding about it,
//! so the table never looks calmer or angrier than the findings it sits beside.

use crate::findings::{Severity, Subject};
use crate::report::{NameserverRow, NameserverZone, Report};

use super::{Mood, Words, count_of, words};

/// The worst `ns-` finding about `zone`, as a mood (good when there is none).
fn zone_mood(report: &Report, z: &NameserverZone) -> Mood {
    report
        .findings
        .iter()
        .filter(|f| f.code.as_str().starts_with("ns-"))
        .filter(|f| matches!(&f.subject, Subject::Domain { name } if *name == z.zone))
        .map(|f| match f.severity {
            Severity::Error => Mood::Bad,
            Severity::Warning => Mood::Warn,
            Severity::Notice | Severity::Ok => Mood::Good,
        })
        .max()
        .unwrap_or(Mood::Good)
}

/// `example.org: 2 servers agree, serial 2026120401` or `example.org: 1 of 3 servers
/// disagree`.
pub fn zone_line(report: &Report, z: &NameserverZone) -> Words {
    let n = count_of(z.servers.len(), "server", "servers");
    if z.agree {
        let serial = z
            .servers
            .first()
            .and_then(|s| s.serial)
            .map(|s| format!(", serial {s}"))
            .unwrap_or_default();
        let verb = if z.servers.len() == 1 { "" } else { " agree" };
        return words(format!("{}: {n}{verb}{serial}", z.zone), Mood::Good);
    }
    let apart = z.servers.iter().filter(|s| !s.differs.is_empty()).count();
    words(
        format!("{}: {apart} of {n} disagree", z.zone),
        zone_mood(report, z).max(Mood::Warn),
    )
}

/// What sets one server of `z` apart, or `agrees`; a server apart takes the zone's colour.
pub fn row_state(report: &Report, z: &NameserverZone, s: &NameserverRow) -> Words {
    if s.differs.is_empty() {
        words("agrees", Mood::Good)
    } else {
        words(s.differs.join("; "), zone_mood(report, z).max(Mood::Warn))
    }
}

/// One line under the grid: every server of every zone agrees, or which zones they do not.
pub fn nameserver_glance(report: &Report) -> Option<Words> {
    if report.nameservers.is_empty() {
        return None;
    }
    let split: Vec<&NameserverZone> = report.nameservers.iter().filter(|z| !z.agree).collect();
    if split.is_empty() {
        let zones = count_of(report.nameservers.len(), "zone", "zones");
        return Some(words(
            format!("Name servers agree: the same answers from every server of {zones}"),
            Mood::Good,
        ));
    }
    let names: Vec<String> = split.iter().map(|z| z.zone.to_string()).collect();
    let mood = split
        .iter()
        .map(|z| zone_mood(report, z).max(Mood::Warn))
        .max()
        .unwrap_or(Mood::Warn);
    Some(words(
        format!("Name servers disagree for {}", names.join(", ")),
        mood,
    ))
}
