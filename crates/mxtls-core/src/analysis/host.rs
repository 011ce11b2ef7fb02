//! One MX host (RFC 7672 §2.2): its address lookups, whether DANE applies, the TLSA RRset
//! and which records are usable, rollover, and the report of the host.

use std::collections::BTreeSet;
use std::net::IpAddr;

use hickory_proto::rr::rdata::TLSA;

use super::{HostDane, Judge, MxState, failure_reason};
use crate::cert::ParsedCert;
use crate::dns;
use crate::evidence::{DnsAnswer, DnsOutcome, DnssecState, HostEvidence, HostOrigin};
use crate::findings::{Code, Finding, Severity, Subject};
use crate::names::DnsName;
use crate::report::{
    CertRef, ChainDane, ChainReport, DaneStatus, LookupState, MxReport, TlsaReport,
};
use crate::tlsa;

impl<'e> Judge<'e> {
    pub(super) fn host(&mut self, h: &HostEvidence, mx: &MxState) -> MxReport {
        let subject = Subject::Host {
            name: h.name.clone(),
        };
        let mut lookups = Vec::new();
        let address_answers: Vec<&DnsAnswer> = h.a.iter().chain(h.aaaa.iter()).collect();
        let mut address_failed = false;
        for answer in &address_answers {
            lookups.push(lookup_state(answer));
            address_failed |=
                self.lookup_problems(answer, subject.clone(), &answer.qtype.to_string());
        }
        for t in &h.tlsa {
            lookups.push(lookup_state(t));
        }

        if matches!(h.origin, HostOrigin::Mx { .. })
            && let Some(chain) = address_answers
                .iter()
                .find(|a| !a.cname_chain.is_empty())
                .map(|a| &a.cname_chain)
        {
            let target = &chain[chain.len() - 1].to;
            self.push(
                Finding::new(Code::MxCname, Severity::Warning, subject.clone(), format!("MX host {} is an alias (CNAME) of {target}", h.name))
                    .explain("RFC 2181 §10.3 says an MX record must point to a name with address records, not to an alias. Most senders follow the alias anyway; DANE senders look for TLSA records at the alias target first (RFC 7672 §2.2.3).")
                    .fix(format!("Point the MX record directly at {target}.")),
            );
        }
        let has_address = !h.addresses.is_empty()
            || address_answers
                .iter()
                .any(|a| a.outcome == DnsOutcome::Data);
        if !has_address && !address_failed {
            self.push(
                Finding::new(Code::MxHostNoAddress, Severity::Error, subject.clone(), format!("MX host {} has no address", h.name))
                    .explain("The host named by the MX record has neither A nor AAAA records, so senders cannot connect to it.")
                    .fix(format!("Publish A and/or AAAA records for {}, or remove it from the MX records.", h.name)),
            );
        }

        let parsed_tlsa = chosen_tlsa(h).map(dns::tlsa_records).unwrap_or_default();
        let dane = self.host_dane(h, mx, &address_answers, address_failed, &parsed_tlsa);
        let preference = match h.origin {
            HostOrigin::Mx { preference } => Some(preference),
            HostOrigin::Implicit => None,
        };

        let mut addresses = Vec::new();
        let mut chains_seen: Vec<(IpAddr, ChainReport)> = Vec::new();
        for a in &h.addresses {
            let (mut report, chains) = self.address(h, a, &dane);
            report.posture = self.posture(h, a);
            chains_seen.extend(chains.into_iter().map(|c| (a.ip, c)));
            addresses.push(report);
        }

        self.addresses_differ(h, &subject, &chains_seen);

        // Rollover (RFC 7671 §8): a single usable record breaks mail on the next key change.
        if dane.status == DaneStatus::Applies {
            let distinct: BTreeSet<&[u8]> = dane
                .usable
                .iter()
                .map(|(_, r)| r.cert_data.as_slice())
                .collect();
            let authenticated = chains_seen
                .iter()
                .any(|(_, c)| c.dane.as_ref().is_some_and(ChainDane::authenticated));
            if distinct.len() == 1 && authenticated {
                let (_, only) = dane.usable[0];
                let records = rollover_records(&chains_seen);
                self.push(
                    Finding::new(Code::TlsaNoRollover, Severity::Notice, subject.clone(), "Only one TLSA record: the next key or certificate change will break DANE")
                        .explain(format!("{} publishes a single usable TLSA record ({}). When the server's key or CA changes, senders defer mail until DNS catches up. Publish the next key's record beside the current one well before the change (\"current + next\"), or a 2 1 1 record for your CA beside the 3 1 1.", h.name, tlsa::presentation(only)))
                        .fix_with_records(rollover_fix_text(&records), records),
                );
            }
        }

        let tlsa_reports = parsed_tlsa
            .iter()
            .enumerate()
            .map(|(i, r)| tlsa_report(i, r, &chains_seen))
            .collect();
        MxReport {
            host: h.name.clone(),
            preference,
            tlsa_base: Some(dane.base.clone()),
            dane: dane.status,
            lookups,
            tlsa: tlsa_reports,
            addresses,
        }
    }

    /// Addresses of one host that present different keys: which one a sender gets depends
    /// on the address it reaches, so a fix for "the key" fits only some of them.
    fn addresses_differ(
        &mut self,
        h: &HostEvidence,
        subject: &Subject,
        chains: &[(IpAddr, ChainReport)],
    ) {
        let mut keys: Vec<(IpAddr, BTreeSet<&str>)> = Vec::new();
        for (ip, c) in chains {
            let Some(record) = c.dane_ee_record.as_deref() else {
                continue;
            };
            match keys.iter_mut().find(|(i, _)| i == ip) {
                Some((_, set)) => {
                    set.insert(record);
                }
                None => keys.push((*ip, BTreeSet::from([record]))),
            }
        }
        if keys.len() < 2 || keys.iter().all(|(_, k)| *k == keys[0].1) {
            return;
        }
        let lines: Vec<String> = keys
            .iter()
            .map(|(ip, k)| {
                let digests: Vec<String> = k
                    .iter()
                    .map(|r| {
                        crate::present::short_record(r.rsplit_once(" TLSA ").map_or(r, |(_, d)| d))
                    })
                    .collect();
                format!("{ip}: {}", digests.join(" + "))
            })
            .collect();
        self.push(
            Finding::new(Code::AddressesDiffer, Severity::Warning, subject.clone(), format!("The addresses of {} present different keys", h.name))
                .explain(format!("Which key a sender gets depends on the address it reaches: {}. This is not a key rollover: the servers behind this name (a cluster, a load balancer's members) are configured differently, so DANE records or certificates that fit one of them fail on the others.", lines.join("; ")))
                .fix(format!("Install the same key and certificate on every server behind {} (or, during a planned change, publish a TLSA record for each key).", h.name)),
        );
    }

    /// RFC 7672 §2.2: DANE applies when the MX, the host's addresses and its TLSA RRset are all
    /// secure, and at least one TLSA record is usable.
    fn host_dane<'t>(
        &mut self,
        h: &HostEvidence,
        mx: &MxState,
        address_answers: &[&DnsAnswer],
        address_failed: bool,
        records: &'t [Result<TLSA, String>],
    ) -> HostDane<'t> {
        let subject = Subject::Host {
            name: h.name.clone(),
        };
        let base = chosen_tlsa(h)
            .or(h.tlsa.first())
            .and_then(|t| tlsa_base(&t.qname))
            .unwrap_or_else(|| h.name.clone());
        let mut reference_names = vec![base.clone(), h.name.clone(), self.ev.domain.clone()];
        reference_names.dedup();
        let mut dane = HostDane {
            status: DaneStatus::NotApplicable,
            usable: Vec::new(),
            reference_names,
            base,
        };
        let tlsa_present = h.tlsa.iter().any(|t| t.outcome == DnsOutcome::Data);

        if self.degraded {
            dane.status = DaneStatus::Unknown;
            return dane;
        }
        if mx.failed || address_failed {
            dane.status = DaneStatus::Failed;
            return dane;
        }
        // The addresses a sender connects to must be secure; a family without addresses
        // (an insecure NODATA, e.g. behind NSEC3 iterations validators will not compute)
        // gives it none to connect to, and Postfix applies DANE per address.
        let addresses_secure = address_answers
            .iter()
            .filter(|a| a.outcome == DnsOutcome::Data)
            .all(|a| dns::overall_dnssec(a).is_secure());
        if !mx.dnssec.is_secure() || !addresses_secure {
            if tlsa_present {
                let why = if !mx.dnssec.is_secure() {
                    format!("the MX records of {} are not DNSSEC-signed", self.ev.domain)
                } else {
                    format!("the address records of {} are not DNSSEC-signed", h.name)
                };
                self.push(
                    Finding::new(Code::TlsaUnsigned, Severity::Warning, subject.clone(), format!("TLSA records for {} are ignored by senders", h.name))
                        .explain(format!("TLSA records are published, but {why}, so DANE senders do not use them (RFC 7672 §2.2) and STARTTLS can still be stripped."))
                        .fix("Sign the zones with DNSSEC (MX, the host's A/AAAA and TLSA must all validate as secure)."),
                );
            } else if mx.dnssec.is_secure() {
                self.push(
                    Finding::new(Code::DaneNotApplicable, Severity::Notice, subject, format!("DANE cannot apply to {}: its address records are not signed", h.name))
                        .explain("The MX records are signed, but the MX host's zone is not, so senders cannot use DANE for it (RFC 7672 §2.2).")
                        .fix(format!("Sign the zone of {} with DNSSEC, then publish TLSA records.", h.name)),
                );
            }
            return dane;
        }

        for answer in &h.tlsa {
            if self.lookup_problems(answer, subject.clone(), "TLSA") {
                dane.status = DaneStatus::Failed;
                self.push(
                    Finding::new(Code::TlsaLookupFailed, Severity::Error, subject, format!("The TLSA lookup for {} fails: DANE senders will not deliver to it", h.name))
                        .explain(format!("The MX host's zone is signed, so DANE senders must know whether {} has TLSA records. The lookup fails ({}), so they cannot decide and defer mail to this host (RFC 7672 §2.2).", answer.qname, failure_reason(answer)))
                        .fix(format!("Make {} answer validly: publish TLSA records, or let it return a signed NODATA/NXDOMAIN.", answer.qname)),
                );
                return dane;
            }
            match answer.outcome {
                DnsOutcome::Data if !dns::overall_dnssec(answer).is_secure() => {
                    self.push(
                        Finding::new(Code::TlsaUnsigned, Severity::Warning, subject, format!("TLSA records for {} are not signed", h.name))
                            .explain(format!("{} has TLSA records, but they are not DNSSEC-signed, so senders ignore them (RFC 7672 §2.2).", answer.qname))
                            .fix(format!("Sign the zone that holds {} with DNSSEC.", answer.qname)),
                    );
                    return dane;
                }
                DnsOutcome::Data => {
                    self.classify_tlsa(h, records, &mut dane);
                    return dane;
                }
                _ => {}
            }
        }
        if h.tlsa.is_empty() {
            dane.status = DaneStatus::Unknown;
            return dane;
        }
        dane.status = DaneStatus::NotPublished;
        let records = self.suggested_records(h, &dane.base);
        self.push(
            Finding::new(Code::TlsaMissing, Severity::Notice, subject, format!("{} publishes no TLSA records: DANE is not in use", h.name))
                .explain("The zones are DNSSEC-signed, so DANE would work here: with TLSA records, senders that validate DANE would insist on authenticated TLS and STARTTLS could not be stripped.")
                .fix_with_records(
                    publish_text(&records, &dane.base),
                    records,
                ),
        );
        dane
    }

    fn classify_tlsa<'t>(
        &mut self,
        h: &HostEvidence,
        records: &'t [Result<TLSA, String>],
        dane: &mut HostDane<'t>,
    ) {
        let subject = Subject::Host {
            name: h.name.clone(),
        };
        let mut unusable = Vec::new();
        for (i, r) in records.iter().enumerate() {
            match r {
                Ok(rec) => match tlsa::classify(rec) {
                    Ok(()) => dane.usable.push((i, rec)),
                    Err(why) => unusable.push(format!("{} — {why}", tlsa::presentation(rec))),
                },
                Err(e) => unusable.push(e.clone()),
            }
        }
        if dane.usable.is_empty() {
            dane.status = DaneStatus::Unusable;
            let records = self.suggested_records(h, &dane.base);
            self.push(
                Finding::new(Code::TlsaUnusable, Severity::Warning, subject, format!("No TLSA record for {} is usable for SMTP", h.name))
                    .explain(format!("Senders that validate DANE ignore every record here ({}), so they still insist on STARTTLS but cannot authenticate the server: the protection you published does nothing.", unusable.join("; ")))
                    .fix_with_records(publish_text(&records, &dane.base), records),
            );
        } else {
            dane.status = DaneStatus::Applies;
            if !unusable.is_empty() {
                self.push(
                    Finding::new(
                        Code::TlsaPartlyUnusable,
                        Severity::Notice,
                        subject,
                        format!("Some TLSA records for {} are ignored by senders", h.name),
                    )
                    .explain(format!(
                        "These records are unusable for SMTP and ignored: {}.",
                        unusable.join("; ")
                    ))
                    .fix("Remove the unusable records; keep DANE-EE (3) and DANE-TA (2) records."),
                );
            }
        }
    }

    /// `3 1 1` records for the keys the host's servers present now.
    fn suggested_records(&self, h: &HostEvidence, base: &DnsName) -> Vec<String> {
        let mut out = Vec::new();
        for s in h.addresses.iter().flat_map(|a| &a.sessions) {
            if let Some(ee) = s.tls.as_ref().and_then(|t| t.chain.first())
                && let Ok(cert) = ParsedCert::parse(ee.as_ref())
            {
                let line = tlsa::spki_sha256_record(base, 3, &cert);
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
        out
    }
}

/// How to publish DANE-EE records: the records themselves when a key was seen, else how to
/// compute one.
fn publish_text(records: &[String], base: &DnsName) -> String {
    if records.is_empty() {
        format!(
            "Publish a DANE-EE record for the server's key at {}: \"3 1 1\" followed by the SHA-256 of its public key \
             (openssl x509 -in cert.pem -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum), and one for the next key.",
            base.tlsa_owner(25)
        )
    } else {
        "Publish a DANE-EE record for the key the server presents now (and one for the next key, for rollover):".to_owned()
    }
}

fn chosen_tlsa(h: &HostEvidence) -> Option<&DnsAnswer> {
    h.tlsa.iter().find(|t| t.outcome == DnsOutcome::Data)
}

/// `_25._tcp.mx.example.org` → `mx.example.org`.
fn tlsa_base(owner: &DnsName) -> Option<DnsName> {
    let mut labels = owner.labels();
    let (port, proto) = (labels.next()?, labels.next()?);
    if !port.starts_with('_') || proto != "_tcp" {
        return None;
    }
    DnsName::parse(&labels.collect::<Vec<_>>().join(".")).ok()
}

fn tlsa_report(
    index: usize,
    record: &Result<TLSA, String>,
    chains: &[(IpAddr, ChainReport)],
) -> TlsaReport {
    // Only chains judged under DANE were compared with the records.
    let compared = chains.iter().any(|(_, c)| c.dane.is_some());
    match record {
        Err(e) => TlsaReport {
            record: "(malformed)".into(),
            usable: false,
            unusable_reason: Some(e.clone()),
            matched: Vec::new(),
            compared,
        },
        Ok(r) => {
            let unusable = tlsa::classify(r).err();
            let matched = chains
                .iter()
                .flat_map(|(ip, c)| {
                    c.dane
                        .iter()
                        .flat_map(|d| &d.matches)
                        .filter(|m| m.record == index)
                        .map(|m| CertRef {
                            ip: *ip,
                            key: c.key,
                            depth: m.cert,
                        })
                })
                .collect();
            TlsaReport {
                record: tlsa::presentation(r),
                usable: unusable.is_none(),
                unusable_reason: unusable.map(|u| u.to_string()),
                matched,
                compared,
            }
        }
    }
}

/// Records to keep and add for a rollover-safe RRset: the current key's `3 1 1` and the
/// issuing CA's `2 1 1`, from the chains seen.
fn rollover_records(chains: &[(IpAddr, ChainReport)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, c) in chains {
        for r in c.dane_ee_record.iter().chain(c.dane_ta_record.iter()) {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
    }
    out
}

/// The rollover fix's words, for the records it can offer: a `2 1 1` only where the server
/// sends its CA's certificate (the digest is made from it).
fn rollover_fix_text(records: &[String]) -> &'static str {
    if records.iter().any(|r| r.contains(" TLSA 2 1 1 ")) {
        "Keep the current record and add the issuing CA's 2 1 1 record beside it (or a 3 1 1 record for the next key, generated before the change):"
    } else {
        "Keep the current 3 1 1 record and publish one for the next key beside it, generated now, before the change (the server sends no CA certificate to make a CA record from):"
    }
}

fn lookup_state(a: &DnsAnswer) -> LookupState {
    let state = dns::overall_dnssec(a);
    LookupState {
        qname: a.qname.clone(),
        qtype: a.qtype.to_string(),
        outcome: a.outcome.id().to_owned(),
        dnssec: state.id().to_owned(),
        reason: match state {
            DnssecState::Bogus { reason } | DnssecState::Indeterminate { reason } => Some(reason),
            _ => None,
        },
    }
}
