//! One presented chain (one key type): DANE-EE/DANE-TA against the usable records, PKIX,
//! the host name, the TLS version, and what that means for senders.

use super::{HostDane, Judge};
use crate::cert::ParsedCert;
use crate::dane;
use crate::evidence::{HostEvidence, SmtpSession};
use crate::findings::{Code, Finding, Severity, Subject};
use crate::names::DnsName;
use crate::pkix;
use crate::report::{ChainReport, DaneStatus, KeyKind, PathError, TaProblem, Verdict};
use crate::tls::{CipherSuite, NamedGroup, TlsVersion};
use crate::tlsa;

impl Judge<'_> {
    pub(super) fn chain(
        &self,
        h: &HostEvidence,
        s: &SmtpSession,
        dane: &HostDane<'_>,
    ) -> ChainReport {
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
            tls_version: tls.and_then(|t| t.version).map(TlsVersion::name),
            cipher_suite: tls.and_then(|t| t.cipher_suite).map(CipherSuite::name),
            kx_group: tls.and_then(|t| t.kx_group).map(NamedGroup::name),
            tls_version_code: tls.and_then(|t| t.version),
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

    pub(super) fn chain_findings(
        &mut self,
        h: &HostEvidence,
        subject: &Subject,
        c: &ChainReport,
        dane: &HostDane<'_>,
        several: bool,
    ) {
        let which = if several {
            format!(" ({} certificate)", c.key.name())
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

    pub(super) fn dane_findings(
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
            let keys: Vec<&str> = ok.iter().map(|j| j.key.name()).collect();
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
                    .explain(format!("The record {record} names a CA by digest, but the server does not send that CA's certificate, so senders cannot find the anchor (RFC 7671 §5.2.2) and refuse to deliver to this server."))
                    .fix("Configure the server to send the full chain including the CA certificate named by the TLSA record (Postfix: smtpd_tls_chain_files with the CA appended), or publish a record for a certificate it does send."),
                TaProblem::NameMismatch { presented } => Finding::new(Code::DaneTaNameMismatch, Severity::Error, subject.clone(), format!("The certificate is not for {} (DANE-TA checks names)", h.name))
                    .explain(format!("The chain validates to the DANE-TA anchor ({record}), but the certificate names {} and none of {}. Under DANE-TA the name must match (RFC 7672 §3.2.2), so DANE senders refuse to deliver to this server.", presented.join(", "), dane.reference_names.iter().map(DnsName::as_str).collect::<Vec<_>>().join(", ")))
                    .fix_with_records(format!("Issue the certificate for {}, or publish a DANE-EE 3 1 1 record for the server's key (it ignores names) beside the DANE-TA one:", dane.base), failed.iter().filter_map(|j| j.dane_ee_record.clone()).collect()),
                TaProblem::Path { error: PathError::Expired } => Finding::new(Code::CertExpired, Severity::Error, subject.clone(), format!("The certificate of {} has expired, and DANE-TA checks dates", h.name))
                    .explain(format!("The chain leads to the DANE-TA anchor ({record}), but a certificate in it has expired. Under DANE-TA validity dates apply (RFC 7672 §3.1.2), so DANE senders refuse to deliver to this server."))
                    .fix_with_records("Renew the certificate, or publish a DANE-EE 3 1 1 record for the server's key (it ignores dates) beside the DANE-TA one:", failed.iter().filter_map(|j| j.dane_ee_record.clone()).collect()),
                TaProblem::Path { error } => Finding::new(Code::TlsaMismatch, Severity::Error, subject.clone(), "The chain does not validate to the DANE-TA anchor")
                    .explain(format!("The record {record} matches a certificate in the chain, but {error}, so DANE senders refuse to deliver to this server."))
                    .fix("Send a complete, valid chain up to the CA named by the TLSA record."),
            };
            self.push(f);
        }
        if !ok.is_empty() {
            for j in &failed {
                self.push(
                    Finding::new(Code::TlsaKeyTypePartial, Severity::Error, subject.clone(), format!("TLSA matches the {} certificate of {} but not the {} one", ok[0].key.name(), h.name, j.key.name()))
                        .explain(format!("The server holds several certificates; which one a sender gets depends on the sender's TLS library. Senders that negotiate {} get a certificate no TLSA record matches, and defer mail.", j.key.name()))
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
                Finding::new(Code::TlsaMismatch, Severity::Error, subject.clone(), format!("No TLSA record matches the certificate of {}: DANE senders will not deliver to it", h.name))
                    .explain(format!("{} publishes {}, but none matches the certificate presented at this address (typically after a key or certificate change without updating DNS, or one server of a cluster left behind). Senders that validate DANE refuse to deliver here; with no other server to take it, they keep the mail queued.", h.name, match dane.usable.len() { 1 => "one usable TLSA record".to_owned(), n => format!("{n} usable TLSA records") }))
                    .fix_with_records("Publish this record for the key the server presents now (keep the old one until it is no longer used):", records),
            );
        }
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
