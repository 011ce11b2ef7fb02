//! The findings catalogue: stable codes, severities and the shape of a finding.
//!
//! A code is a promise: tools, tests and users match on it. Wording may change; a code never
//! changes meaning and is never reused. Add new codes at the end of [`Code::ALL`].

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::names::DnsName;

/// How much a finding matters to mail delivery and its protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Mail is deferred, bounced or exposed, or a protection the owner set up fails.
    Error,
    /// A weakness worth fixing; mail still flows as intended.
    Warning,
    /// Information: how things stand, or a non-urgent improvement.
    Notice,
    /// Something checked and found right.
    Ok,
}

impl Severity {
    /// The machine id (the serde name).
    pub fn id(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Ok => "ok",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => $code:literal, $rfc:literal;)*) => {
        /// A finding's stable identifier.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Code {
            $(#[serde(rename = $code)] $variant,)*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable string form, e.g. `tlsa-mismatch`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The standard the finding rests on.
            pub fn rfc(self) -> &'static str {
                match self { $(Code::$variant => $rfc,)* }
            }
        }
    };
}

codes! {
    MxNull => "mx-null", "RFC 7505 §3";
    MxImplicit => "mx-implicit", "RFC 5321 §5.1";
    MxDnssecInsecure => "mx-dnssec-insecure", "RFC 7672 §2.2.1";
    DnssecBogus => "dnssec-bogus", "RFC 7672 §2.1.1";
    DnsLookupFailed => "dns-lookup-failed", "RFC 7672 §2.1.1";
    TlsaMissing => "tlsa-missing", "RFC 7672 §2.2";
    TlsaUnsigned => "tlsa-unsigned", "RFC 7672 §2.2";
    TlsaLookupFailed => "tlsa-lookup-failed", "RFC 7672 §2.2";
    TlsaUnusable => "tlsa-unusable", "RFC 7672 §3.1.3";
    TlsaMismatch => "tlsa-mismatch", "RFC 7672 §3.1";
    DaneVerified => "dane-verified", "RFC 7672 §3";
    TlsaNoRollover => "tlsa-no-rollover", "RFC 7671 §8";
    DaneTaNameMismatch => "dane-ta-name-mismatch", "RFC 7672 §3.2.2";
    DaneTaNotInChain => "dane-ta-not-in-chain", "RFC 7671 §5.2.2";
    StarttlsMissing => "starttls-missing", "RFC 3207 §4";
    StarttlsStripped => "starttls-stripped", "RFC 3207 §6";
    StarttlsFailed => "starttls-failed", "RFC 3207 §4.1";
    SmtpUnreachable => "smtp-unreachable", "RFC 5321 §5.1";
    SmtpInconclusive => "smtp-inconclusive", "RFC 5321 §3.1";
    AddressRefused => "address-refused", "RFC 6890";
    AddressOptedOut => "address-opted-out", "RFC 5321 §3.1";
    CertExpired => "cert-expired", "RFC 5280 §4.1.2.5";
    CertNameMismatch => "cert-name-mismatch", "RFC 6125 §6";
    CertUntrusted => "cert-untrusted", "RFC 5280 §6";
    MxCname => "mx-cname", "RFC 2181 §10.3";
    MxNullMixed => "mx-null-mixed", "RFC 7505 §3";
    TlsaKeyTypePartial => "tlsa-key-type-partial", "RFC 7671 §5";
    ResolverNoDnssec => "resolver-no-dnssec", "RFC 4035 §4.9";
    DnssecIndeterminate => "dnssec-indeterminate", "RFC 4035 §4.3";
    MxIpLiteral => "mx-ip-literal", "RFC 7505 §4";
    MxHostNoAddress => "mx-host-no-address", "RFC 5321 §5.1";
    MxNone => "mx-none", "RFC 5321 §5.1";
    CertTrusted => "cert-trusted", "RFC 5280 §6";
    TlsOldVersion => "tls-old-version", "RFC 8996 §2";
    LimitReached => "limit-reached", "";
    TlsaPartlyUnusable => "tlsa-partly-unusable", "RFC 7672 §3.1.3";
    DaneNotApplicable => "dane-not-applicable", "RFC 7672 §2.2";
    MtaStsEnforce => "mta-sts-enforce", "RFC 8461 §5";
    MtaStsTesting => "mta-sts-testing", "RFC 8461 §5";
    MtaStsNone => "mta-sts-none", "RFC 8461 §5";
    MtaStsMissing => "mta-sts-missing", "RFC 8461 §3";
    MtaStsTxtInvalid => "mta-sts-txt-invalid", "RFC 8461 §3.1";
    MtaStsPolicyFetchFailed => "mta-sts-policy-fetch-failed", "RFC 8461 §3.3";
    MtaStsPolicyInvalid => "mta-sts-policy-invalid", "RFC 8461 §3.2";
    MtaStsMxNotCovered => "mta-sts-mx-not-covered", "RFC 8461 §4.1";
    MtaStsMxCertInvalid => "mta-sts-mx-cert-invalid", "RFC 8461 §4.2";
    TlsRptOk => "tlsrpt-ok", "RFC 8460 §3";
    TlsRptMissing => "tlsrpt-missing", "RFC 8460 §3";
    TlsRptInvalid => "tlsrpt-invalid", "RFC 8460 §3";
    MtaStsEnforceUnsafe => "mta-sts-enforce-unsafe", "RFC 8461 §4.2";
    SmtpUnresponsive => "smtp-unresponsive", "RFC 5321 §4.5.3.2";
    AddressesDiffer => "addresses-differ", "RFC 7672 §3.1";
    RrsigExpiring => "rrsig-expiring", "RFC 4035 §5.3.1";
    CertExpiring => "cert-expiring", "RFC 5280 §4.1.2.5";
    TlsaRolloverRisk => "tlsa-rollover-risk", "RFC 7671 §8.1";
    TlsRptStrippingOnPath => "tlsrpt-stripping-on-path", "RFC 8460 §4.3.2.1";
    TlsRptFailureConfirmed => "tlsrpt-failure-confirmed", "RFC 8460 §4.3";
    TlsRptFailureNotSeen => "tlsrpt-failure-not-seen", "RFC 8460 §4.3";
    TlsRptUnknownMx => "tlsrpt-unknown-mx", "RFC 8460 §4.4";
    TlsRptStalePolicy => "tlsrpt-stale-policy", "RFC 8461 §5.1";
    TlsRptPolicyNotFound => "tlsrpt-policy-not-found", "RFC 8460 §4.3";
    TlsRptClean => "tlsrpt-clean", "RFC 8460 §4";
    AddressEvidenceReused => "address-evidence-reused", "RFC 5321 §4.5.4";
    LookaheadIncomplete => "lookahead-incomplete", "RFC 4035 §5.3.1";
    TlsOldVersionsAccepted => "tls-old-versions-accepted", "RFC 8996 §2";
    TlsWeakSuites => "tls-weak-suites", "RFC 9325 §4.1";
    TlsAnonymousSuites => "tls-anonymous-suites", "RFC 7435 §3";
    TlsNoServerOrder => "tls-no-server-order", "RFC 9325 §4.2";
    TlsNoTls13 => "tls-latest-version-missing", "RFC 9325 §3.1.1";
    TlsNoExtendedMasterSecret => "tls-no-ems", "RFC 7627 §4";
    TlsInsecureRenegotiation => "tls-insecure-renegotiation", "RFC 5746 §4";
    TlsCompression => "tls-compression", "RFC 9325 §3.3";
    TlsWeakKeyExchange => "tls-weak-key-exchange", "RFC 9325 §4.1";
    TlsWeakSignatureHash => "tls-weak-signature-hash", "RFC 9155 §1";
    TlsPostQuantum => "tls-post-quantum", "draft-ietf-tls-ecdhe-mlkem §3";
    TlsLargeHelloDropped => "tls-large-hello-dropped", "RFC 8446 §4.1.2";
    TlsPostureReused => "tls-posture-reused", "RFC 5321 §4.5.4";
    DnssecAlgorithmSha1 => "dnssec-algorithm-sha1", "RFC 9905";
    DnssecAlgorithmBroken => "dnssec-algorithm-broken", "RFC 8624 §3.1";
    DsDigestSha1Only => "ds-digest-sha1-only", "RFC 8624 §3.3";
    DnssecDenialIterations => "dnssec-denial-iterations", "RFC 9276 §3.1";
    DnssecDenialOptOut => "dnssec-denial-opt-out", "RFC 5155 §6";
    NsNoAnswer => "ns-no-answer", "RFC 1034 §4.1";
    NsNotAuthoritative => "ns-not-authoritative", "RFC 1034 §4.1";
    NsSerialBehind => "ns-serial-behind", "RFC 1996 §1";
    NsRecordsDiffer => "ns-records-differ", "RFC 7672 §2.2";
    NsSignaturesExpireFirst => "ns-signatures-expire-first", "RFC 4035 §5.3.1";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Subject {
    /// The mail domain as a whole.
    Domain { name: DnsName },
    /// One MX host.
    Host { name: DnsName },
    /// One address of one MX host.
    Address { host: DnsName, ip: IpAddr },
    /// The probe's own resolver, not the domain.
    Resolver,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Domain { name } | Subject::Host { name } => write!(f, "{name}"),
            Subject::Address { host, ip } => write!(f, "{host} [{ip}]"),
            Subject::Resolver => f.write_str("probe resolver"),
        }
    }
}

/// A concrete fix: what to do, and where one exists, everything to publish — whole, so that
/// it is copied (or downloaded) in one piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub text: String,
    /// Zone-file lines to publish together, ready to paste as one block.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<String>,
    /// A file to serve, where the fix is one (the MTA-STS policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FixFile>,
}

/// A file to serve as (part of) a fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixFile {
    /// The file's name, for a download (`mta-sts.txt`).
    pub name: String,
    /// Where it must be served.
    pub url: String,
    pub content: String,
}

/// One judgement about the domain, an MX host or an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub subject: Subject,
    pub title: String,
    pub explanation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// The RFC section the judgement rests on.
    pub rfc: String,
}

impl Finding {
    pub fn new(
        code: Code,
        severity: Severity,
        subject: Subject,
        title: impl Into<String>,
    ) -> Finding {
        Finding {
            code,
            severity,
            subject,
            title: title.into(),
            explanation: String::new(),
            fix: None,
            rfc: code.rfc().to_owned(),
        }
    }

    pub fn explain(mut self, text: impl Into<String>) -> Finding {
        self.explanation = text.into();
        self
    }

    pub fn fix(mut self, text: impl Into<String>) -> Finding {
        self.fix = Some(Fix {
            text: text.into(),
            records: Vec::new(),
            file: None,
        });
        self
    }

    pub fn fix_with_records(mut self, text: impl Into<String>, records: Vec<String>) -> Finding {
        self.fix = Some(Fix {
            text: text.into(),
            records,
            file: None,
        });
        self
    }

    /// A fix with a file to serve and the records that go with it.
    pub fn fix_with_file(
        mut self,
        text: impl Into<String>,
        records: Vec<String>,
        file: FixFile,
    ) -> Finding {
        self.fix = Some(Fix {
            text: text.into(),
            records,
            file: Some(file),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
