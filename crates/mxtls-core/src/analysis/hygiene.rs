//! DNSSEC hygiene on the path (`dnssec::hygiene`): a zone signed with an algorithm some
//! validators refuse, a delegation whose DS records use only SHA-1, NSEC3 denials with more
//! iterations than validators compute. None of them fails validation here; each turns DNSSEC,
//! and so DANE, off for the senders whose validator draws the line — silently, for them.

use super::Judge;
use crate::dnssec::hygiene::{self, Standing, ZoneSigning};
use crate::evidence::DnsAnswer;
use crate::findings::{Code, Finding, Severity, Subject};
use crate::names::RecordType;

/// Where validators stop computing NSEC3 iterations (above the number, denials are
/// insecure to them), lowest first.
const ITERATION_LIMITS: &[(u16, &str)] = &[
    (
        100,
        "systemd-resolved and hickory-dns (this probe's validator)",
    ),
    (
        hygiene::VALIDATOR_ITERATION_LIMIT,
        "BIND, Unbound and Knot Resolver",
    ),
];

impl Judge<'_> {
    /// The hygiene findings of every signed zone on the path and every denial seen.
    pub(super) fn hygiene(&mut self) {
        if self.degraded {
            return;
        }
        for zone in hygiene::zones(&self.ev.dnssec_chain) {
            self.algorithm(&zone);
            self.digests(&zone);
        }
        let ev = self.ev;
        let answers = std::iter::once(&ev.mx)
            .chain(ev.hosts.iter().flat_map(|h| {
                h.a.iter()
                    .chain(h.aaaa.iter())
                    .chain(h.tlsa.iter())
                    .collect::<Vec<&DnsAnswer>>()
            }))
            .chain(ev.mta_sts.txt.iter())
            .chain(ev.tls_rpt.iter());
        for denials in hygiene::nsec3_denials(answers) {
            self.iterations(&denials);
            self.opt_out(&denials);
        }
    }

    fn algorithm(&mut self, zone: &ZoneSigning) {
        let names: Vec<String> = zone
            .algorithms
            .iter()
            .map(|a| format!("{} ({a})", hygiene::algorithm_name(*a)))
            .collect();
        let names = names.join(" and ");
        let name = &zone.zone;
        let rollover = format!(
            "Roll {name} over to ECDSAP256SHA256 (13) or ED25519 (15): sign with the new key \
             beside the old, publish the new DS at the parent, wait out the DS TTL, then \
             remove the old DS and key (RFC 6781 §4.1.4, the algorithm rollover)."
        );
        let f = match zone.standing() {
            Standing::Current => return,
            Standing::Sha1 => Finding::new(
                Code::DnssecAlgorithmSha1,
                Severity::Warning,
                Subject::Domain { name: name.clone() },
                format!("{name} is signed with {names}, which validators that refuse SHA-1 treat as unsigned"),
            )
            .explain(format!(
                "RSASHA1 and RSASHA1-NSEC3-SHA1 are deprecated for signing (RFC 9905). Red Hat \
                 Enterprise Linux 9 and its derivatives refuse SHA-1 signatures by default, so \
                 their Unbound treats {name} as insecure: DANE below it stops protecting mail \
                 from every sender on those systems, with no error to see. Validators elsewhere \
                 still accept it, which is why this check's own validation passes."
            )),
            Standing::Broken => Finding::new(
                Code::DnssecAlgorithmBroken,
                Severity::Error,
                Subject::Domain { name: name.clone() },
                format!("{name} is signed with {names}, which no current validator accepts"),
            )
            .explain(format!(
                "Validators no longer implement this algorithm (RFC 8624 §3.1): to them {name} \
                 is unsigned, and nothing below it — MX, addresses, TLSA — is protected by \
                 DNSSEC. DANE does not work for any sender."
            )),
        };
        self.push(f.fix(rollover));
    }

    fn digests(&mut self, zone: &ZoneSigning) {
        if !zone.sha1_digests_only() {
            return;
        }
        let name = &zone.zone;
        let records: Vec<String> = zone
            .delegated_keys()
            .into_iter()
            .map(|k| crate::dnssec::ds_record(name, k))
            .collect();
        let f = Finding::new(
            Code::DsDigestSha1Only,
            Severity::Warning,
            Subject::Domain { name: name.clone() },
            format!("The DS records for {name} use only SHA-1"),
        )
        .explain(format!(
            "Validators that refuse SHA-1 (Red Hat Enterprise Linux 9's default policy among \
             them) cannot follow the delegation to {name}, so everything in it is insecure to \
             them and DANE does not protect mail from their senders (RFC 8624 §3.3: SHA-1 DS \
             records must no longer be published alone)."
        ));
        self.push(if records.is_empty() {
            f.fix(format!(
                "Publish a SHA-256 DS record (digest type 2) for {name}'s key-signing key at \
                 the registrar, beside or instead of the SHA-1 one."
            ))
        } else {
            f.fix_with_records(
                format!(
                    "Publish the SHA-256 DS record{} below at the registrar (or the parent \
                     zone), then remove the SHA-1 one.",
                    if records.len() == 1 { "" } else { "s" }
                ),
                records,
            )
        });
    }

    fn iterations(&mut self, denials: &hygiene::Nsec3Denials) {
        if denials.iterations == 0 {
            return;
        }
        let name = &denials.zone;
        let n = denials.iterations;
        let refusing: Vec<&str> = ITERATION_LIMITS
            .iter()
            .filter(|(limit, _)| n > *limit)
            .map(|(_, who)| *who)
            .collect();
        let salt = if denials.salted {
            " and an empty salt (`1 0 0 -`)"
        } else {
            " (`1 0 0 -`)"
        };
        let fix = format!(
            "Re-sign {name} with NSEC3 iterations 0{salt}, as RFC 9276 requires; or with NSEC."
        );
        let f = if refusing.is_empty() {
            Finding::new(
                Code::DnssecDenialIterations,
                Severity::Notice,
                Subject::Domain { name: name.clone() },
                format!("{name}'s NSEC3 denials use {n} extra iterations"),
            )
            .explain(format!(
                "RFC 9276 requires 0: extra iterations cost every validator work and protect \
                 nothing. Validators lower their limits over time; above {} some already treat \
                 the denials as insecure.",
                ITERATION_LIMITS[0].0
            ))
        } else {
            Finding::new(
                Code::DnssecDenialIterations,
                Severity::Warning,
                Subject::Domain { name: name.clone() },
                format!("{name}'s NSEC3 denials use {n} iterations, more than validators compute"),
            )
            .explain(format!(
                "Above their limit, validators treat NSEC3 denials as insecure without checking \
                 them: {} do so at {n}. An attacker on a sender's path can then forge \"no such \
                 record\" for {name} — \"no TLSA records\" for an MX host among them — and the \
                 sender accepts it, leaving DANE for unauthenticated TLS.",
                refusing.join(", ")
            ))
        };
        self.push(f.fix(fix));
    }

    fn opt_out(&mut self, denials: &hygiene::Nsec3Denials) {
        let tlsa: Vec<String> = denials
            .opt_out
            .iter()
            .filter(|(_, t)| *t == RecordType::TLSA)
            .map(|(n, _)| n.to_string())
            .collect();
        if tlsa.is_empty() {
            return;
        }
        let name = &denials.zone;
        self.push(
            Finding::new(
                Code::DnssecDenialOptOut,
                Severity::Notice,
                Subject::Domain { name: name.clone() },
                format!(
                    "The denial of {} rests on an NSEC3 opt-out span",
                    tlsa.join(", ")
                ),
            )
            .explain(format!(
                "An opt-out span (RFC 5155 §6) proves only that no signed delegation exists \
                 there, so validators treat the missing TLSA records as insecure rather than \
                 proven absent. It changes nothing while the host has no TLSA records; it is \
                 meant for delegation-heavy zones, not for {name}'s own hosts."
            ))
            .fix(format!("Re-sign {name} without opt-out (NSEC3 flags 0).")),
        );
    }
}
