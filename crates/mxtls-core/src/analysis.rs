//! `analyse`: evidence in, report out. Pure: the judgement time is an argument.
//!
//! The order of judgement follows a DANE sender (RFC 7672 §2): the MX RRset and its DNSSEC
//! state, then per host its addresses and TLSA RRset, then per address the SMTP session and
//! each presented chain. Severity follows what senders do, not habit: a name mismatch or an
//! expired certificate under a matching DANE-EE record costs nothing (notice), the same with
//! PKIX only is a warning, and anything that makes DANE senders defer mail is an error.

use std::collections::BTreeSet;
use std::net::IpAddr;

use hickory_proto::rr::rdata::TLSA;
use rustls_pki_types::TrustAnchor;

use crate::cert::{KeyKind, ParsedCert};
use crate::dane::{self, ChainDane, TaProblem};
use crate::dns;
use crate::evidence::{
    AddressEvidence, DnsAnswer, DnsOutcome, DnssecState, Evidence, HostEvidence, HostOrigin,
    RrsigSupport, SessionError, SmtpSession, Step, TargetDecision, UnixTime,
};
use crate::findings::{Code, Finding, Severity, Subject};
use crate::mta_sts;
use crate::names::DnsName;
use crate::pkix::{self, PathError};
use crate::report::{
    AddressReport, CertRef, ChainReport, DaneStatus, LookupState, MxReport, Report, Summary,
    TlsaReport, Verdict,
};
use crate::senders::{self, Protection};
use crate::starttls;
use crate::tlsa;

/// Judges `evidence` as of `now` (normally the time the evidence was gathered), trusting
/// Mozilla's roots.
#[cfg(feature = "mozilla-roots")]
pub fn analyse(evidence: &Evidence, now: UnixTime) -> Report {
    analyse_with(evidence, now, &pkix::RootSet::mozilla())
}

/// Judges `evidence` as of `now`, trusting `roots` (and the extra roots the evidence
/// records).
pub fn analyse_with(evidence: &Evidence, now: UnixTime, roots: &pkix::RootSet) -> Report {
    let anchors = pkix::pkix_anchors(roots, &evidence.settings.extra_pkix_roots);
    let mut cx = Judge {
        ev: evidence,
        now,
        anchors,
        findings: Vec::new(),
        degraded: evidence.resolver.rrsigs == RrsigSupport::Absent,
    };
    cx.resolver();
    let mx = cx.mx();
    let hosts: Vec<MxReport> = evidence.hosts.iter().map(|h| cx.host(h, &mx)).collect();
    cx.limits();
    cx.reachability(&hosts);

    let dane_everywhere = senders::protection(&hosts, None) == Protection::Dane;
    let mta_sts = (!mx.null).then(|| {
        let (report, findings) =
            mta_sts::judge(evidence, &hosts, &cx.anchors, now, dane_everywhere);
        cx.findings.extend(findings);
        cx.findings.push(crate::tls_rpt::judge(evidence));
        report
    });
    let downgrade_protection = senders::protection(&hosts, mta_sts.as_ref());
    let senders = senders::matrix(&hosts, mta_sts.as_ref(), mx.null, mx.failed);

    let mut findings = cx.findings;
    findings.sort_by_key(|f| f.severity);
    let summary = summarise(evidence, &mx, &hosts, &findings, downgrade_protection);
    Report {
        domain: evidence.domain.clone(),
        judged_at: now,
        summary,
        findings,
        mx: hosts,
        mta_sts,
        downgrade_protection,
        senders,
    }
}

/// What the MX lookup means for the rest of the judgement.
struct MxState {
    dnssec: DnssecState,
    failed: bool,
    null: bool,
}

struct Judge<'e> {
    ev: &'e Evidence,
    now: UnixTime,
    anchors: Vec<TrustAnchor<'e>>,
    findings: Vec<Finding>,
    /// The probe's resolver strips DNSSEC: missing signatures are not the domain's fault.
    degraded: bool,
}

/// The DANE context of one host, shared by its addresses.
struct HostDane<'a> {
    status: DaneStatus,
    usable: Vec<(usize, &'a TLSA)>,
    reference_names: Vec<DnsName>,
    base: DnsName,
}

impl<'e> Judge<'e> {
    fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    fn domain(&self) -> Subject {
        Subject::Domain {
            name: self.ev.domain.clone(),
        }
    }

    fn resolver(&mut self) {
        if self.degraded {
            let f = Finding::new(
                Code::ResolverNoDnssec,
                Severity::Warning,
                Subject::Resolver,
                "The probe's resolver strips DNSSEC, so DNSSEC and DANE could not be judged",
            )
            .explain(format!(
                "The resolver {} returned no signatures for the signed root zone. Every answer \
                 looks unsigned from here, so this report cannot say whether DANE protects the \
                 domain. This is a limitation of the probe's network, not a fault of the domain.",
                self.ev.resolver.address
            ))
            .fix("Run the check again with a resolver that passes DNSSEC records (--resolver).");
            self.push(f);
        }
    }

    fn mx(&mut self) -> MxState {
        let answer = &self.ev.mx;
        let dnssec = dns::overall_dnssec(answer);
        let mut state = MxState {
            dnssec: dnssec.clone(),
            failed: false,
            null: false,
        };
        let subject = self.domain();
        let domain = self.ev.domain.clone();

        if self.lookup_problems(answer, subject.clone(), "MX") {
            state.failed = true;
            return state;
        }
        match answer.outcome {
            DnsOutcome::Data => {
                let targets = dns::mx_targets(answer);
                let nulls = targets
                    .iter()
                    .flatten()
                    .filter(|t| t.exchange.is_root())
                    .count();
                let others = targets
                    .iter()
                    .flatten()
                    .filter(|t| !t.exchange.is_root())
                    .count();
                if nulls > 0 && others == 0 {
                    state.null = true;
                    self.push(
                        Finding::new(Code::MxNull, Severity::Notice, subject.clone(), format!("{domain} accepts no mail (null MX)"))
                            .explain("The domain publishes a null MX record (MX 0 .): it declares that it receives no mail, and senders bounce mail to it at once. There is nothing to protect with TLS."),
                    );
                } else if nulls > 0 {
                    self.push(
                        Finding::new(Code::MxNullMixed, Severity::Error, subject.clone(), "A null MX is published beside other MX records")
                            .explain("A null MX (MX 0 .) says the domain accepts no mail, yet other MX records say it does. RFC 7505 forbids the mix; senders may treat the domain as accepting no mail and bounce.")
                            .fix(format!("Remove the null MX record from {domain} if the domain receives mail, or remove the other MX records if it does not.")),
                    );
                }
                for bad in targets.iter().filter_map(|t| t.as_ref().err()) {
                    self.push(
                        Finding::new(
                            Code::DnsLookupFailed,
                            Severity::Warning,
                            subject.clone(),
                            "An MX record does not decode",
                        )
                        .explain(bad.clone()),
                    );
                }
                for t in targets.iter().flatten() {
                    if t.exchange.as_str().parse::<IpAddr>().is_ok() {
                        self.push(
                            Finding::new(Code::MxIpLiteral, Severity::Error, Subject::Host { name: t.exchange.clone() }, "The MX record names an IP address, not a host name")
                                .explain("MX records must name a host; senders look the address up as a name, find nothing, and cannot deliver to this MX.")
                                .fix(format!("Publish a host name (e.g. mx.{domain}) with A/AAAA records for this address, and point the MX record at it.")),
                        );
                    }
                }
            }
            DnsOutcome::NxDomain => {
                state.failed = true;
                self.push(
                    Finding::new(Code::MxNone, Severity::Error, subject.clone(), format!("{domain} does not exist"))
                        .explain("The DNS says the domain does not exist (NXDOMAIN): senders bounce mail to it.")
                        .fix("Check the spelling of the domain, or register and publish it."),
                );
                return state;
            }
            _ => {
                self.push(
                    Finding::new(Code::MxImplicit, Severity::Notice, subject.clone(), "No MX records: mail goes to the domain's own address")
                        .explain(format!("{domain} has no MX RRset, so senders deliver to the A/AAAA records of {domain} itself (the implicit MX). This works, but an explicit MX record states your intent."))
                        .fix(format!("Publish an MX record, e.g. \"{domain}. IN MX 10 mx.{domain}.\", pointing to your mail server.")),
                );
            }
        }
        if matches!(dnssec, DnssecState::Insecure) && !state.null && !self.degraded {
            let tlsa_published = self
                .ev
                .hosts
                .iter()
                .any(|h| h.tlsa.iter().any(|t| t.outcome == DnsOutcome::Data));
            let mut explanation = format!(
                "The MX records of {domain} are not DNSSEC-signed, so senders cannot trust them and DANE cannot apply (RFC 7672 §2.2.1): an attacker who forges the MX answer, or strips STARTTLS, goes unnoticed by DANE senders."
            );
            if tlsa_published {
                explanation.push_str(" Your mail hosts publish TLSA records, but senders will not use them while the MX records are unsigned.");
            }
            self.push(
                Finding::new(Code::MxDnssecInsecure, Severity::Notice, subject, "MX records are not DNSSEC-signed: DANE cannot protect this domain")
                    .explain(explanation)
                    .fix(format!("Sign the zone {domain} with DNSSEC and publish its DS record at the parent; then publish TLSA records for your MX hosts.")),
            );
        }
        state
    }

    /// Reports a failed or unvalidated lookup. Returns true when the answer is unusable.
    ///
    /// A lookup that got no answer (a timeout, SERVFAIL with checking disabled) is a DNS
    /// failure, not a DNSSEC one: its fix is to make the servers answer, not to re-sign.
    fn lookup_problems(&mut self, answer: &DnsAnswer, subject: Subject, what: &str) -> bool {
        let state = dns::overall_dnssec(answer);
        if answer.got_no_answer() {
            self.push(
                Finding::new(
                    Code::DnsLookupFailed,
                    Severity::Error,
                    subject,
                    format!("The {what} lookup for {} fails ({})", answer.qname, answer.outcome.label()),
                )
                .explain("Senders that cannot get an answer defer mail and retry; if it persists, mail bounces after days.")
                .fix(format!("Make the authoritative servers for {} answer {what} queries.", answer.qname)),
            );
            return true;
        }
        if state.is_failed() || answer.validation_failed {
            let (code, reason) = match &state {
                DnssecState::Indeterminate { reason } => {
                    (Code::DnssecIndeterminate, reason.clone())
                }
                DnssecState::Bogus { reason } => (Code::DnssecBogus, reason.clone()),
                _ => (Code::DnssecBogus, "validation failed".to_owned()),
            };
            let title = format!(
                "The {what} answer for {} fails DNSSEC validation",
                answer.qname
            );
            let explanation = format!(
                "A validating resolver answers SERVFAIL for {} {} because {reason}. Senders that validate DNSSEC (most large providers) defer mail until it is fixed.",
                answer.qname, answer.qtype
            );
            if self.degraded {
                return true;
            }
            self.push(
                Finding::new(code, Severity::Error, subject, title)
                    .explain(explanation)
                    .fix("Re-sign the zone (check signature expiry and that the DS at the parent matches a DNSKEY of the zone)."),
            );
            return true;
        }
        false
    }

    fn host(&mut self, h: &HostEvidence, mx: &MxState) -> MxReport {
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
            let (report, chains) = self.address(h, a, &dane);
            chains_seen.extend(chains.into_iter().map(|c| (a.ip, c)));
            addresses.push(report);
        }

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
                self.push(
                    Finding::new(Code::TlsaNoRollover, Severity::Notice, subject.clone(), "Only one TLSA record: the next key or certificate change will break DANE")
                        .explain(format!("{} publishes a single usable TLSA record ({}). When the server's key or CA changes, senders defer mail until DNS catches up. Publish the next key's record beside the current one well before the change (\"current + next\"), or a 2 1 1 record for your CA beside the 3 1 1.", h.name, tlsa::presentation(only)))
                        .fix_with_records("Keep the current record and add the issuing CA's 2 1 1 record beside it (or a 3 1 1 record for the next key, generated before the change):", rollover_records(&chains_seen)),
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
        let addresses_secure = address_answers
            .iter()
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
                    Finding::new(Code::TlsaLookupFailed, Severity::Error, subject, format!("The TLSA lookup for {} fails: DANE senders defer mail", h.name))
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
                Finding::new(Code::TlsaUnusable, Severity::Error, subject, format!("No TLSA record for {} is usable for SMTP", h.name))
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

    fn address(
        &mut self,
        h: &HostEvidence,
        a: &AddressEvidence,
        dane: &HostDane<'_>,
    ) -> (AddressReport, Vec<ChainReport>) {
        let subject = Subject::Address {
            host: h.name.clone(),
            ip: a.ip,
        };
        let mut report = AddressReport {
            ip: a.ip,
            tls: Verdict::Inconclusive,
            chains: Vec::new(),
            starttls_offered: None,
        };
        if let TargetDecision::Refused { reason } = &a.target {
            report.tls = Verdict::Refused;
            self.push(
                Finding::new(Code::AddressRefused, Severity::Warning, subject, format!("{} is not a public address: not tested", a.ip))
                    .explain(format!("{} resolves to {} ({reason}). Senders on the internet cannot reach it; mxtls does not connect to such addresses.", h.name, a.ip))
                    .fix(format!("Publish only public addresses for {}.", h.name)),
            );
            return (report, Vec::new());
        }
        let Some(first) = a.sessions.first() else {
            self.push(
                Finding::new(Code::SmtpInconclusive, Severity::Notice, subject, format!("{} was not tested", a.ip))
                    .explain("The probe did not open a session with this address (a probe limit was reached)."),
            );
            return (report, Vec::new());
        };

        if let Some(verdict) = self.session_outcome(h, first, &subject, dane) {
            report.tls = verdict;
            report.starttls_offered = first.ehlo.as_ref().map(starttls::offers_starttls);
            return (report, Vec::new());
        }
        report.starttls_offered = Some(true);

        // Judge every distinct chain the server showed (one per key type).
        let mut seen: Vec<&[u8]> = Vec::new();
        let mut judged = Vec::new();
        for s in &a.sessions {
            let Some(tls) = &s.tls else { continue };
            let Some(ee) = tls.chain.first() else {
                continue;
            };
            if seen.contains(&ee.as_ref()) {
                continue;
            }
            seen.push(ee.as_ref());
            judged.push(self.chain(h, s, dane));
        }
        if judged.is_empty() {
            report.tls = Verdict::Untrusted;
            return (report, Vec::new());
        }
        let several = judged.len() > 1;
        for j in &judged {
            self.chain_findings(h, &subject, j, dane, several);
        }
        if dane.status == DaneStatus::Applies {
            self.dane_findings(h, &subject, &judged, dane);
        }
        report.tls = judged
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Untrusted);
        report.chains = judged.clone();
        (report, judged)
    }

    /// The verdict when the session ended before a chain could be judged, with its finding.
    fn session_outcome(
        &mut self,
        h: &HostEvidence,
        s: &SmtpSession,
        subject: &Subject,
        dane: &HostDane<'_>,
    ) -> Option<Verdict> {
        let stop = s.stopped.as_ref();
        let dane_note = if matches!(dane.status, DaneStatus::Applies | DaneStatus::Unusable) {
            " Because this host publishes TLSA records, DANE senders will not send in cleartext: they defer the mail."
        } else {
            ""
        };
        if let Some(stop) = stop.filter(|s| s.step == Step::Connect) {
            self.push(
                Finding::new(Code::SmtpUnreachable, Severity::Warning, subject.clone(), format!("No connection to {} port {}", h.name, s.port))
                    .explain(format!("Connecting failed ({}). Senders try the other MX hosts and addresses, and defer mail if none answers.", error_text(&stop.error)))
                    .fix("Make sure the server listens on port 25 and that firewalls let connections in."),
            );
            return Some(Verdict::Unreachable);
        }
        let banner_ok = s.banner.as_ref().is_some_and(|b| b.code == 220);
        let ehlo_ok = s.ehlo.as_ref().is_some_and(|e| e.code == 250);
        if !banner_ok || !ehlo_ok {
            let what = match (&s.banner, stop) {
                (Some(b), _) if b.code != 220 => {
                    format!("the server greeted with {} {}", b.code, b.lines.join(" "))
                }
                (_, Some(stop)) => format!(
                    "at the {} step: {}",
                    stop.step.label(),
                    error_text(&stop.error)
                ),
                _ => "the EHLO command was not accepted".to_owned(),
            };
            self.push(
                Finding::new(Code::SmtpInconclusive, Severity::Notice, subject.clone(), format!("{} refused or limited the probe: not judged", h.name))
                    .explain(format!("The session ended early ({what}). Servers do this to unknown clients (greylisting, rate limits, postscreen), so this says nothing about the domain; senders with a reputation may fare differently."))
                    .fix("Run the check again later, or from another network."),
            );
            return Some(Verdict::Inconclusive);
        }
        let ehlo = s.ehlo.as_ref()?;
        let tampering = starttls::tampering(s.banner.as_ref(), Some(ehlo));
        if !starttls::offers_starttls(ehlo) {
            let finding = match tampering {
                Some(t) => Finding::new(Code::StarttlsStripped, Severity::Error, subject.clone(), format!("STARTTLS to {} is being stripped on the path", h.name))
                    .explain(format!("Something between the probe and the server removed STARTTLS: {t}. Senders see no STARTTLS and send in cleartext.{dane_note}"))
                    .fix("Turn off SMTP/ESMTP inspection on the firewall in front of the mail server (e.g. Cisco \"no fixup protocol smtp\" / \"no inspect esmtp\")."),
                None => Finding::new(Code::StarttlsMissing, Severity::Error, subject.clone(), format!("{} does not offer STARTTLS", h.name))
                    .explain(format!("The server's EHLO reply has no STARTTLS, so mail to it travels in cleartext.{dane_note}"))
                    .fix("Enable STARTTLS on the server (Postfix: smtpd_tls_security_level = may, with smtpd_tls_chain_files set)."),
            };
            self.push(finding);
            return Some(Verdict::NoStarttls);
        }
        if s.tls.as_ref().is_some_and(|t| !t.chain.is_empty()) {
            return None;
        }
        let (code, detail) = match (stop, &s.starttls) {
            (Some(stop), _)
                if matches!(stop.error, SessionError::CleartextAfterStarttls { .. }) =>
            {
                (
                    Code::StarttlsStripped,
                    format!(
                        "after answering 220 to STARTTLS the server spoke cleartext ({}): a middlebox is answering in its place",
                        error_text(&stop.error)
                    ),
                )
            }
            (_, Some(r)) if r.code != 220 => (
                Code::StarttlsFailed,
                format!(
                    "STARTTLS was answered with {} {}",
                    r.code,
                    r.lines.join(" ")
                ),
            ),
            (Some(stop), _) => (
                Code::StarttlsFailed,
                format!(
                    "the {} step failed: {}",
                    stop.step.label(),
                    error_text(&stop.error)
                ),
            ),
            (None, _) => (
                Code::StarttlsFailed,
                "no certificate was presented".to_owned(),
            ),
        };
        self.push(
            Finding::new(code, Severity::Error, subject.clone(), format!("{} offers STARTTLS but TLS fails", h.name))
                .explain(format!("STARTTLS is advertised, but {detail}. This is the worst case: Postfix and most senders then fall back to cleartext, Sendmail defers.{dane_note}"))
                .fix("Check the server's TLS configuration (certificate and key files readable, protocols and ciphers enabled) and its logs."),
        );
        Some(Verdict::TlsFailed)
    }

    fn chain(&self, h: &HostEvidence, s: &SmtpSession, dane: &HostDane<'_>) -> ChainReport {
        let tls = s.tls.as_ref();
        let chain = tls.map(|t| t.chain.as_slice()).unwrap_or_default();
        let parsed: Vec<ParsedCert<'_>> = chain
            .iter()
            .filter_map(|c| ParsedCert::parse(c.as_ref()).ok())
            .collect();
        let ee = chain
            .first()
            .and_then(|c| ParsedCert::parse(c.as_ref()).ok());
        let key = ee
            .as_ref()
            .map(ParsedCert::key_kind)
            .unwrap_or(KeyKind::Other);
        let pkix = pkix::verify_chain(chain, &self.anchors, self.now);
        let name_matches = ee.as_ref().is_some_and(|c| c.matches_name(&h.name));
        let dane_result = (dane.status == DaneStatus::Applies)
            .then(|| dane::judge_chain(chain, &dane.usable, &dane.reference_names, self.now));
        let verdict = match &dane_result {
            Some(d) if d.authenticated() => Verdict::Verified,
            Some(_) => Verdict::Untrusted,
            None if pkix.is_ok() && name_matches => Verdict::Trusted,
            None => Verdict::Untrusted,
        };
        ChainReport {
            key,
            offered: s.offered,
            verdict,
            tls_version: tls.and_then(|t| t.version.clone()),
            cipher_suite: tls.and_then(|t| t.cipher_suite.clone()),
            kx_group: tls.and_then(|t| t.kx_group.clone()),
            dane: dane_result,
            pkix,
            name_matches,
            dane_ee_record: ee
                .as_ref()
                .map(|c| tlsa::spki_sha256_record(&dane.base, 3, c)),
            dane_ta_record: chain
                .get(1)
                .and_then(|c| ParsedCert::parse(c.as_ref()).ok())
                .map(|c| tlsa::spki_sha256_record(&dane.base, 2, &c)),
            certs: parsed.iter().map(ParsedCert::facts).collect(),
        }
    }

    fn chain_findings(
        &mut self,
        h: &HostEvidence,
        subject: &Subject,
        c: &ChainReport,
        dane: &HostDane<'_>,
        several: bool,
    ) {
        let which = if several {
            format!(" ({} certificate)", c.key.label())
        } else {
            String::new()
        };
        let by_dane_ee = c
            .dane
            .as_ref()
            .and_then(|d| d.authenticated_by)
            .and_then(|i| dane.usable.iter().find(|(idx, _)| *idx == i))
            .is_some_and(|(_, r)| u8::from(r.cert_usage) == 3);
        let verified = c.verdict == Verdict::Verified;
        let ee = c.certs.first();
        let expired = ee.is_some_and(|e| e.not_after < self.now);

        if let Some(v) = c.tls_version.as_ref().filter(|_| c.deprecated_tls()) {
            self.push(
                Finding::new(Code::TlsOldVersion, Severity::Warning, subject.clone(), format!("{} negotiated {v}{which}", h.name))
                    .explain("TLS 1.0 and 1.1 are deprecated (RFC 8996); many senders no longer accept them and fall back to cleartext or defer.")
                    .fix("Enable TLS 1.2 and 1.3 on the server."),
            );
        }
        if verified {
            if by_dane_ee && expired {
                self.push(
                    Finding::new(Code::CertExpired, Severity::Notice, subject.clone(), format!("The certificate of {} has expired{which}, which DANE-EE ignores", h.name))
                        .explain("A DANE-EE (3 x x) record pins the key itself, so validity dates do not matter to DANE senders (RFC 7672 §3.1.1). Senders that check PKIX (MTA-STS) would reject it.")
                        .fix("Renew the certificate when convenient; keep the same key, or update the TLSA record at the same time."),
                );
            }
            if by_dane_ee && !c.name_matches {
                self.push(
                    Finding::new(Code::CertNameMismatch, Severity::Notice, subject.clone(), format!("The certificate is not for {}{which}, which DANE-EE ignores", h.name))
                        .explain(format!("The certificate names {}, not the MX host. DANE-EE ignores names (RFC 7672 §3.1.1), so DANE senders accept it; PKIX/MTA-STS senders would not.", names_of(c)))
                        .fix(format!("Add {} to the certificate's subject alternative names when it is next renewed.", h.name)),
                );
            }
            if c.pkix.is_err() && !expired {
                self.push(
                    Finding::new(Code::CertUntrusted, Severity::Notice, subject.clone(), format!("The certificate of {} is not publicly trusted{which}; DANE authenticates it", h.name))
                        .explain(format!("PKIX validation fails ({}). DANE senders do not need it; senders that use MTA-STS would.", path_text(&c.pkix)))
                        .fix("Nothing needed for DANE; for MTA-STS use a certificate from a public CA."),
                );
            }
            return;
        }
        if c.dane.is_some() {
            // DANE applies and failed: the DANE findings carry the story.
            return;
        }
        match &c.pkix {
            Err(PathError::Expired) => self.push(
                Finding::new(Code::CertExpired, Severity::Warning, subject.clone(), format!("The certificate of {} has expired{which}", h.name))
                    .explain("Senders that check certificates (MTA-STS, or DANE-TA) reject it; opportunistic senders still encrypt but cannot authenticate the server.")
                    .fix("Renew the certificate and reload the mail server."),
            ),
            Err(e) => self.push(
                Finding::new(Code::CertUntrusted, Severity::Warning, subject.clone(), format!("The certificate of {} is not publicly trusted{which}", h.name))
                    .explain(format!("PKIX validation fails: {e}. Senders encrypt but cannot authenticate the server; MTA-STS cannot be used with it."))
                    .fix("Use a certificate from a public CA (e.g. ACME/Let's Encrypt) and send the full chain, or publish DANE TLSA records for the key."),
            ),
            Ok(()) if !c.name_matches => {}
            Ok(()) => self.push(
                Finding::new(Code::CertTrusted, Severity::Ok, subject.clone(), format!("{} has a valid, publicly trusted certificate{which}", h.name))
                    .explain("The chain validates to a public root and names the MX host."),
            ),
        }
        if !c.name_matches {
            self.push(
                Finding::new(
                    Code::CertNameMismatch,
                    Severity::Warning,
                    subject.clone(),
                    format!("The certificate is not for {}{which}", h.name),
                )
                .explain(format!(
                    "The certificate names {}. Senders that check names (MTA-STS) reject it.",
                    names_of(c)
                ))
                .fix(format!(
                    "Get a certificate that includes {} in its subject alternative names.",
                    h.name
                )),
            );
        }
    }

    fn dane_findings(
        &mut self,
        h: &HostEvidence,
        subject: &Subject,
        judged: &[ChainReport],
        dane: &HostDane<'_>,
    ) {
        let ok: Vec<&ChainReport> = judged
            .iter()
            .filter(|j| j.verdict == Verdict::Verified)
            .collect();
        let failed: Vec<&ChainReport> = judged
            .iter()
            .filter(|j| j.verdict != Verdict::Verified)
            .collect();
        if failed.is_empty() {
            let keys: Vec<&str> = ok.iter().map(|j| j.key.label()).collect();
            self.push(
                Finding::new(Code::DaneVerified, Severity::Ok, subject.clone(), format!("DANE authenticates {} ({})", h.name, keys.join(" and ")))
                    .explain("The certificate presented matches a usable TLSA record, so DANE senders deliver over authenticated TLS and STARTTLS cannot be stripped."),
            );
            return;
        }
        let ta_problems: Vec<&(usize, TaProblem)> = failed
            .iter()
            .flat_map(|j| j.dane.iter().flat_map(|d| &d.ta_problems))
            .collect();
        for (idx, problem) in ta_problems {
            let record = dane
                .usable
                .iter()
                .find(|(i, _)| i == idx)
                .map(|(_, r)| tlsa::presentation(r))
                .unwrap_or_default();
            let f = match problem {
                TaProblem::NotInChain => Finding::new(Code::DaneTaNotInChain, Severity::Error, subject.clone(), "The DANE-TA trust anchor is not in the presented chain")
                    .explain(format!("The record {record} names a CA by digest, but the server does not send that CA's certificate, so senders cannot find the anchor (RFC 7671 §5.2.2) and defer mail."))
                    .fix("Configure the server to send the full chain including the CA certificate named by the TLSA record (Postfix: smtpd_tls_chain_files with the CA appended), or publish a record for a certificate it does send."),
                TaProblem::NameMismatch { presented } => Finding::new(Code::DaneTaNameMismatch, Severity::Error, subject.clone(), format!("The certificate is not for {} (DANE-TA checks names)", h.name))
                    .explain(format!("The chain validates to the DANE-TA anchor ({record}), but the certificate names {} and none of {}. Under DANE-TA the name must match (RFC 7672 §3.2.2), so DANE senders defer mail.", presented.join(", "), dane.reference_names.iter().map(DnsName::as_str).collect::<Vec<_>>().join(", ")))
                    .fix(format!("Issue the certificate for {} (or use a DANE-EE 3 1 1 record, which ignores names).", dane.base)),
                TaProblem::Path { error: PathError::Expired } => Finding::new(Code::CertExpired, Severity::Error, subject.clone(), format!("The certificate of {} has expired, and DANE-TA checks dates", h.name))
                    .explain(format!("The chain leads to the DANE-TA anchor ({record}), but a certificate in it has expired. Under DANE-TA validity dates apply (RFC 7672 §3.1.2), so DANE senders defer mail."))
                    .fix("Renew the certificate (or switch to a DANE-EE 3 1 1 record)."),
                TaProblem::Path { error } => Finding::new(Code::TlsaMismatch, Severity::Error, subject.clone(), "The chain does not validate to the DANE-TA anchor")
                    .explain(format!("The record {record} matches a certificate in the chain, but {error}, so DANE senders defer mail."))
                    .fix("Send a complete, valid chain up to the CA named by the TLSA record."),
            };
            self.push(f);
        }
        if !ok.is_empty() {
            for j in &failed {
                self.push(
                    Finding::new(Code::TlsaKeyTypePartial, Severity::Error, subject.clone(), format!("TLSA matches the {} certificate of {} but not the {} one", ok[0].key.label(), h.name, j.key.label()))
                        .explain(format!("The server holds several certificates; which one a sender gets depends on the sender's TLS library. Senders that negotiate {} get a certificate no TLSA record matches, and defer mail.", j.key.label()))
                        .fix_with_records("Publish a record for this key too, beside the existing ones:", j.dane_ee_record.iter().cloned().collect()),
                );
            }
        } else if !failed
            .iter()
            .any(|j| j.dane.as_ref().is_some_and(|d| !d.ta_problems.is_empty()))
        {
            let records: Vec<String> = failed
                .iter()
                .filter_map(|j| j.dane_ee_record.clone())
                .collect();
            self.push(
                Finding::new(Code::TlsaMismatch, Severity::Error, subject.clone(), format!("No TLSA record matches the certificate of {}: DANE senders defer mail", h.name))
                    .explain(format!("{} publishes {} usable TLSA record(s), but none matches the certificate presented (typically after a key or certificate change without updating DNS). Senders that validate DANE refuse to deliver and keep the mail queued.", h.name, dane.usable.len()))
                    .fix_with_records("Publish this record for the key the server presents now (keep the old one until it is no longer used):", records),
            );
        }
    }

    fn limits(&mut self) {
        for hit in &self.ev.limits_hit {
            self.findings.push(
                Finding::new(
                    Code::LimitReached,
                    Severity::Warning,
                    Subject::Domain {
                        name: self.ev.domain.clone(),
                    },
                    format!("A probe limit was reached: {}", hit.limit),
                )
                .explain(format!(
                    "{} ({}). The report is partial there.",
                    hit.detail, hit.subject
                )),
            );
        }
    }

    /// No address anywhere accepted a connection: mail cannot be delivered at all.
    fn reachability(&mut self, hosts: &[MxReport]) {
        let verdicts: Vec<Verdict> = hosts
            .iter()
            .flat_map(|h| h.addresses.iter().map(|a| a.tls))
            .collect();
        if !verdicts.is_empty() && verdicts.iter().all(|v| *v == Verdict::Unreachable) {
            let subject = self.domain();
            self.push(
                Finding::new(Code::SmtpUnreachable, Severity::Error, subject, "No MX host accepts connections on port 25")
                    .explain("Every address of every MX host refused or ignored the connection. Senders queue mail and bounce it after a few days.")
                    .fix("Make sure the mail servers run, listen on port 25 and are reachable through firewalls."),
            );
        }
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
    match record {
        Err(e) => TlsaReport {
            record: "(malformed)".into(),
            usable: false,
            unusable_reason: Some(e.clone()),
            matched: Vec::new(),
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

fn lookup_state(a: &DnsAnswer) -> LookupState {
    let state = dns::overall_dnssec(a);
    LookupState {
        qname: a.qname.clone(),
        qtype: a.qtype.to_string(),
        outcome: a.outcome.label().to_owned(),
        dnssec: state.label().to_owned(),
        reason: match state {
            DnssecState::Bogus { reason } | DnssecState::Indeterminate { reason } => Some(reason),
            _ => None,
        },
    }
}

fn failure_reason(a: &DnsAnswer) -> String {
    match dns::overall_dnssec(a) {
        DnssecState::Bogus { reason } => format!("DNSSEC validation fails: {reason}"),
        DnssecState::Indeterminate { reason } => format!("DNSSEC state indeterminate: {reason}"),
        _ => a.outcome.label().to_owned(),
    }
}

fn error_text(e: &SessionError) -> String {
    match e {
        SessionError::ConnectRefused => "connection refused".into(),
        SessionError::ConnectTimeout => "no answer (timeout)".into(),
        SessionError::Timeout => "timed out".into(),
        SessionError::Reset => "connection reset by the server".into(),
        SessionError::Closed => "the server closed the connection".into(),
        SessionError::Rejected { code } => format!("rejected with {code}"),
        SessionError::Garbage { detail } => format!("not SMTP: {detail}"),
        SessionError::Limit { what } => format!("limit reached: {what}"),
        SessionError::CleartextAfterStarttls { text } => format!("{text:?}"),
        SessionError::TlsAlert { description } => format!("TLS alert: {description}"),
        SessionError::Tls { message } => format!("TLS error: {message}"),
        SessionError::Io { message } => message.clone(),
    }
}

fn path_text(p: &Result<(), PathError>) -> String {
    match p {
        Ok(()) => "valid".into(),
        Err(e) => e.to_string(),
    }
}

fn names_of(c: &ChainReport) -> String {
    c.certs
        .first()
        .map(|e| {
            if e.dns_names.is_empty() {
                e.common_names.join(", ")
            } else {
                e.dns_names.join(", ")
            }
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "no host name".to_owned())
}

fn summarise(
    ev: &Evidence,
    mx: &MxState,
    hosts: &[MxReport],
    findings: &[Finding],
    protection: Protection,
) -> Summary {
    let domain = &ev.domain;
    let judged: Vec<Verdict> = hosts
        .iter()
        .flat_map(|h| h.addresses.iter().map(|a| a.tls))
        .filter(|v| {
            !matches!(
                v,
                Verdict::Unreachable | Verdict::Inconclusive | Verdict::Refused
            )
        })
        .collect();
    let dane_authenticated = !judged.is_empty() && judged.iter().all(|v| *v == Verdict::Verified);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let headline = if mx.null {
        format!("{domain} accepts no mail (null MX): there is nothing to protect.")
    } else if mx.failed {
        format!(
            "Senders cannot find the mail servers of {domain}: the MX lookup fails, so mail is deferred or bounced."
        )
    } else if judged.is_empty() {
        format!("No mail server of {domain} could be tested: see the findings below.")
    } else if dane_authenticated && errors == 0 {
        format!(
            "Mail to {domain} is protected: DANE authenticates every MX host, and STARTTLS cannot be stripped."
        )
    } else if judged
        .iter()
        .any(|v| matches!(v, Verdict::NoStarttls | Verdict::TlsFailed))
    {
        format!(
            "Mail to {domain} can travel in cleartext: not every MX host offers working STARTTLS."
        )
    } else if errors > 0 {
        format!(
            "Mail to {domain} is at risk: {errors} error(s) below make senders defer mail or lose protection."
        )
    } else if judged.iter().all(|v| *v == Verdict::Trusted) && protection == Protection::MtaSts {
        format!(
            "Mail to {domain} is protected for MTA-STS senders: valid certificates everywhere, and the enforced policy stops STARTTLS stripping."
        )
    } else if judged.iter().all(|v| *v == Verdict::Trusted) {
        format!(
            "Mail to {domain} is encrypted with valid certificates, but without DANE or an enforced MTA-STS policy an attacker on the path can strip STARTTLS."
        )
    } else {
        format!(
            "Mail to {domain} is encrypted but not authenticated: an attacker on the path can intercept it or strip STARTTLS."
        )
    };
    Summary {
        headline,
        dane_authenticated,
        strippable: !mx.null && protection == Protection::None,
        accepts_no_mail: mx.null,
    }
}
