//! The domain as a whole: the probe's resolver, the MX RRset (null, implicit, IP literals,
//! DNSSEC), lookups that fail, and the probe's limits.

use std::net::IpAddr;

use super::{Judge, MxState};
use crate::dns;
use crate::evidence::{DnsAnswer, DnsOutcome, DnssecState};
use crate::findings::{Code, Finding, Severity, Subject};

impl Judge<'_> {
    pub(super) fn resolver(&mut self) {
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

    pub(super) fn mx(&mut self) -> MxState {
        let answer = &self.ev.mx;
        let dnssec = dns::overall_dnssec(answer);
        let mut state = MxState {
            dnssec: dnssec.clone(),
            failed: false,
            bogus: answer.fails_validation(),
            null: false,
        };
        let subject = self.domain();
        let domain = self.ev.domain.clone();

        if self.lookup_problems(answer, subject.clone(), "MX") {
            state.failed = true;
            // Say which hosts the unusable answer names, so the owner recognises them.
            let named: Vec<String> = dns::mx_targets(answer)
                .into_iter()
                .flatten()
                .map(|t| format!("{} (preference {})", t.exchange, t.preference))
                .collect();
            if state.bogus
                && !named.is_empty()
                && let Some(f) = self.findings.last_mut()
            {
                f.explanation.push_str(&format!(
                    " The answer names {}; none of them was connected to.",
                    named.join(", ")
                ));
            }
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
    pub(super) fn lookup_problems(
        &mut self,
        answer: &DnsAnswer,
        subject: Subject,
        what: &str,
    ) -> bool {
        let state = dns::overall_dnssec(answer);
        if answer.got_no_answer() {
            self.push(
                Finding::new(
                    Code::DnsLookupFailed,
                    Severity::Error,
                    subject,
                    format!("The {what} lookup for {} fails ({})", answer.qname, answer.outcome.id()),
                )
                .explain("Senders that cannot get an answer defer mail and retry; if it persists, mail bounces after days.")
                .fix(format!("Make the authoritative servers for {} answer {what} queries.", answer.qname)),
            );
            return true;
        }
        if state.is_failed() || answer.validation_failed {
            if self.degraded {
                return true;
            }
            let code = match &state {
                DnssecState::Indeterminate { .. } => Code::DnssecIndeterminate,
                _ => Code::DnssecBogus,
            };
            let (why, fix, records) = self.why_bogus(answer, &state);
            let title = format!(
                "The {what} answer for {} fails DNSSEC validation",
                answer.qname
            );
            let explanation = format!(
                "A validating resolver answers SERVFAIL for {} {}: {why}. Senders that validate DNSSEC (most large providers) cannot use it and defer mail until it is fixed; the probe does not follow data that fails validation either.",
                answer.qname, answer.qtype
            );
            self.push(
                Finding::new(code, Severity::Error, subject, title)
                    .explain(explanation)
                    .fix_with_records(fix, records),
            );
            return true;
        }
        false
    }

    /// Why `answer` fails validation, in words, with the fix for that cause (and the records
    /// to publish, where the fix is a record).
    fn why_bogus(&self, answer: &DnsAnswer, state: &DnssecState) -> (String, String, Vec<String>) {
        use crate::dnssec::Failure;
        match crate::dnssec::diagnose(answer, &self.ev.dnssec_chain, self.now) {
            Failure::DsMismatch {
                zone,
                ds_tags,
                key_tags,
                fix,
            } => (
                format!(
                    "the DS record for {zone} at its parent names key {}, but {zone} publishes key {}: no chain of trust reaches the zone, so everything in it is bogus",
                    tags(&ds_tags),
                    tags(&key_tags)
                ),
                format!(
                    "Publish the DS of {zone}'s current key-signing key at the registrar (or in the parent zone) and remove the stale one:"
                ),
                fix,
            ),
            Failure::Expired { signer, at } => (
                format!("its signature (RRSIG, by {signer}) expired on {at}"),
                format!(
                    "Re-sign {signer}. Signatures that run out mean automatic re-signing has stopped: check the signer (BIND dnssec-policy, Knot, OpenDNSSEC) or your DNS host."
                ),
                Vec::new(),
            ),
            Failure::NotYetValid { signer, from } => (
                format!("its signature (RRSIG, by {signer}) is not valid until {from}"),
                format!("Fix the signer's clock and re-sign {signer}."),
                Vec::new(),
            ),
            Failure::UnknownKey { signer, key_tag } => (
                format!("it is signed by key {key_tag}, which {signer} does not publish"),
                format!("Re-sign {signer} with a key it publishes, or publish key {key_tag} in its DNSKEY RRset."),
                Vec::new(),
            ),
            Failure::NoSignature => (
                "it carries no signature (RRSIG) although the zone is signed".to_owned(),
                "Re-sign the zone so that every RRset carries a signature.".to_owned(),
                Vec::new(),
            ),
            Failure::BadSignature { signer, key_tag } => (
                format!(
                    "its signature (RRSIG by key {key_tag} of {signer}) is in its validity period but does not verify: the data or the signature was changed after signing"
                ),
                format!(
                    "Re-sign {signer} after every change to its records (a record edited by hand in a signed zone, or a transfer that altered it, breaks the signature)."
                ),
                Vec::new(),
            ),
            Failure::Unknown => (
                match state {
                    DnssecState::Bogus { reason } | DnssecState::Indeterminate { reason } => {
                        reason.clone()
                    }
                    _ => "validation failed".to_owned(),
                },
                "Re-sign the zone (check signature expiry and that the DS at the parent matches a DNSKEY of the zone).".to_owned(),
                Vec::new(),
            ),
        }
    }

    pub(super) fn limits(&mut self) {
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
}

/// Key tags as people read them: `12345` or `12345, 23456`.
fn tags(t: &[u16]) -> String {
    t.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}
