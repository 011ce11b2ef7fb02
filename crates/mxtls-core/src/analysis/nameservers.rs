//! Every authoritative server against the others (`authoritative::compare`): a server that
//! does not answer, one that does not serve the zone, one behind on the serial, one whose MX,
//! TLSA or DNSKEY RRset differs, one whose signatures run out first. Each is named with its
//! address, who it hurts (the senders whose resolver happens to ask it: intermittently, which
//! a one-path check never sees) and the fix.

use super::Judge;
use crate::authoritative::{self, Difference, ServerDifference};
use crate::evidence::{UnixTime, ZoneServers};
use crate::findings::{Code, Finding, Severity, Subject};
use crate::names::RecordType;
use crate::report::{Horizon, NameserverRow, NameserverZone};

impl Judge<'_> {
    /// The findings of every server that differs, and each zone's table.
    pub(super) fn nameservers(&mut self, horizon: Horizon) -> Vec<NameserverZone> {
        let ahead = i64::from(horizon.rrsig_days()) * 86_400;
        let mut tables = Vec::new();
        for zone in &self.ev.authoritative {
            let servers = zone.servers.len();
            let differences = authoritative::compare(zone, self.now, ahead);
            for d in &differences {
                let f = self.server_finding(d, servers);
                self.push(f);
            }
            tables.push(table(zone, &differences, self.now));
        }
        tables
    }

    fn server_finding(&self, d: &ServerDifference, servers: usize) -> Finding {
        let who = format!("{} ({})", d.server, d.ip);
        let zone = &d.zone;
        let share = if servers > 1 {
            format!("about 1 in {servers} lookups")
        } else {
            "every lookup".to_owned()
        };
        let subject = Subject::Domain { name: zone.clone() };
        match &d.difference {
            Difference::NoAnswer { why } => Finding::new(
                Code::NsNoAnswer,
                Severity::Warning,
                subject,
                format!("Name server {who} does not answer for {zone}"),
            )
            .explain(format!(
                "Asked directly, it gave no answer ({why}). Resolvers that pick it ({share}) \
                 wait for a timeout and then try another server: lookups of {zone} slow down, \
                 and if the other servers fail too, senders defer mail."
            ))
            .fix(format!(
                "Bring {} back, or remove it from {zone}'s NS records and from the delegation \
                 at the parent.",
                d.server
            )),
            Difference::NotAuthoritative { rcode } => Finding::new(
                Code::NsNotAuthoritative,
                Severity::Warning,
                subject,
                format!("Name server {who} does not serve {zone}"),
            )
            .explain(format!(
                "It answers without authority for the zone (response code {rcode}): a lame \
                 delegation. Resolvers that pick it ({share}) must try another server."
            ))
            .fix(format!(
                "Load {zone} on {}, or remove it from the NS records and the delegation.",
                d.server
            )),
            Difference::SerialBehind { serial, newest } => Finding::new(
                Code::NsSerialBehind,
                Severity::Warning,
                subject,
                format!("Name server {who} serves an old copy of {zone} (serial {serial}, newest {newest})"),
            )
            .explain(format!(
                "It has not received the zone's latest changes. Senders whose resolver asks it \
                 ({share}) see the old records — old TLSA records after a key change, old \
                 signatures that run out — and the others the new ones."
            ))
            .fix(format!(
                "Check the zone transfer from the primary to {} (NOTIFY, AXFR/IXFR, its \
                 allow-transfer and the secondary's logs), or publish the zone there as you do \
                 on the others.",
                d.server
            )),
            Difference::Records {
                qname,
                qtype,
                missing,
                extra,
                rcode,
                none,
            } => {
                let what = match (rcode, missing, extra) {
                    (Some(3), _, _) => "says the name does not exist".to_owned(),
                    (Some(c), _, _) => format!("answers with response code {c}"),
                    (None, m, 0) => format!("lacks {m} of the records the others serve"),
                    (None, 0, e) => format!("serves {e} records the others do not"),
                    (None, m, e) => format!("lacks {m} records the others serve and has {e} others"),
                };
                let (severity, hurt) = match *qtype {
                    // A proof that there are none turns DANE off for those senders (mail
                    // still flows, unauthenticated); other records may match nothing.
                    t if t == RecordType::TLSA && *none => (
                        Severity::Warning,
                        "DANE senders whose resolver asks it are told there are no TLSA \
                         records and fall back to unauthenticated TLS",
                    ),
                    t if t == RecordType::TLSA => (
                        Severity::Error,
                        "DANE senders whose resolver asks it see other TLSA records and defer \
                         mail when those match nothing",
                    ),
                    t if t == RecordType::MX => (
                        Severity::Error,
                        "senders whose resolver asks it deliver to other hosts than the rest",
                    ),
                    _ => (
                        Severity::Warning,
                        "validators that ask it may fail to validate the zone and defer",
                    ),
                };
                Finding::new(
                    Code::NsRecordsDiffer,
                    severity,
                    subject,
                    format!("Name server {who} {what} for {qname} {qtype}"),
                )
                .explain(format!(
                    "The other servers of {zone} agree on another answer (records compared as \
                     sets: TTL and order do not count). Intermittently ({share}), {hurt}."
                ))
                .fix(format!(
                    "Make {} serve the same zone as the others: usually a stale secondary \
                     (check its zone transfers) or a record added on one server only.",
                    d.server
                ))
            }
            Difference::ExpiresFirst {
                qname,
                qtype,
                at,
                others,
            } => Finding::new(
                Code::NsSignaturesExpireFirst,
                Severity::Warning,
                subject,
                format!(
                    "The signatures of {qname} {qtype} on {who} expire {}",
                    crate::report::in_days(self.now, *at)
                ),
            )
            .explain(format!(
                "The other servers' run to {}. When these run out, validating resolvers that \
                 ask {} ({share}) find the answer bogus and senders defer mail: the zone there \
                 is no longer re-signed or transferred.",
                others,
                d.server
            ))
            .fix(format!(
                "Transfer the freshly signed zone to {} (or re-sign it there) before {}.",
                d.server,
                at
            )),
        }
    }
}

/// `zone`'s servers as a table: each one's serial and what sets it apart.
fn table(zone: &ZoneServers, differences: &[ServerDifference], now: UnixTime) -> NameserverZone {
    let servers: Vec<NameserverRow> = zone
        .servers
        .iter()
        .map(|s| NameserverRow {
            name: s.name.clone(),
            ip: s.ip,
            serial: s
                .answers
                .iter()
                .find(|a| a.qtype == RecordType::SOA)
                .and_then(authoritative::serial),
            differs: differences
                .iter()
                .filter(|d| d.ip == s.ip && d.server == s.name)
                .map(|d| in_words(&d.difference, now))
                .collect(),
        })
        .collect();
    NameserverZone {
        zone: zone.zone.clone(),
        agree: differences.is_empty(),
        servers,
    }
}

fn in_words(d: &Difference, now: UnixTime) -> String {
    match d {
        Difference::NoAnswer { why } => format!("no answer ({why})"),
        Difference::NotAuthoritative { rcode } => format!("not authoritative (code {rcode})"),
        Difference::SerialBehind { serial, newest } => format!("serial {serial}, newest {newest}"),
        Difference::Records {
            qname,
            qtype,
            missing,
            extra,
            rcode,
            ..
        } => match rcode {
            Some(3) => format!("{qname} {qtype}: no such name"),
            Some(c) => format!("{qname} {qtype}: code {c}"),
            None => format!("{qname} {qtype}: {missing} missing, {extra} extra"),
        },
        Difference::ExpiresFirst { at, .. } => {
            format!("signatures expire {}", crate::report::in_days(now, *at))
        }
    }
}
