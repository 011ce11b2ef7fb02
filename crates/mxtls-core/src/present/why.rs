//! Why each finding matters, in plain words, and a glossary of the terms the report uses —
//! for a domain owner who is not a mail-TLS specialist.

use crate::findings::Code;
use crate::report::Report;

/// One line: why a finding of this code matters to mail.
pub fn why(code: Code) -> &'static str {
    use Code::*;
    match code {
        MxNull => "A null MX tells the world not to send mail here; nothing else is checked.",
        MxImplicit => {
            "Without an MX record, senders guess the mail server from the domain's own address."
        }
        MxDnssecInsecure => {
            "Unsigned MX records can be forged on the way, and DANE cannot protect the domain."
        }
        DnssecBogus => {
            "Senders that validate DNSSEC refuse answers that fail it, and queue the mail until it is fixed."
        }
        DnsLookupFailed => {
            "A sender that gets no answer cannot deliver now; it retries, and bounces after days."
        }
        TlsaMissing => {
            "With TLSA records, DANE senders would insist on an authenticated connection."
        }
        TlsaUnsigned => {
            "TLSA records count only when DNSSEC proves them: unsigned ones are ignored."
        }
        TlsaLookupFailed => {
            "DANE senders must know whether TLSA records exist; if they cannot, they wait."
        }
        TlsaUnusable => "Records senders cannot use protect nothing, though you published them.",
        TlsaMismatch => {
            "DANE senders deliver only to a server whose key matches a TLSA record; otherwise they wait."
        }
        DaneVerified => {
            "DANE senders know they talk to your server, and an attacker cannot strip TLS."
        }
        TlsaNoRollover => "A single record breaks mail the day the key or certificate changes.",
        DaneTaNameMismatch => {
            "Under DANE-TA the certificate must name the host, as with any public CA."
        }
        DaneTaNotInChain => "The CA your record names must be in the chain the server sends.",
        StarttlsMissing => "Without STARTTLS mail travels in cleartext, readable on the way.",
        StarttlsStripped => {
            "A device on the path removes encryption: every sender falls back to cleartext."
        }
        StarttlsFailed => {
            "When TLS fails after STARTTLS, most senders retry in cleartext, some queue the mail."
        }
        SmtpUnreachable => "A server nobody can connect to receives no mail.",
        SmtpInconclusive => {
            "The server turned the probe away, as it may turn away unknown senders; nothing was judged."
        }
        AddressRefused => {
            "Addresses that are not public cannot be reached by senders on the internet."
        }
        AddressOptedOut => {
            "Its postmaster asked this checker not to test it: nothing here is known about it."
        }
        CertExpired => "Senders that check certificates refuse an expired one.",
        CertNameMismatch => "Senders that check names refuse a certificate for another host.",
        CertUntrusted => "Senders that require a public CA (MTA-STS) refuse this certificate.",
        MxCname => "An MX must name a host, not an alias; some senders refuse the alias.",
        MxNullMixed => "A null MX beside real ones is contradictory; some senders bounce the mail.",
        TlsaKeyTypePartial => {
            "Which certificate a sender gets depends on its TLS library; some get the one no record matches."
        }
        ResolverNoDnssec => {
            "The probe could not see DNSSEC, so nothing about DANE could be judged."
        }
        DnssecIndeterminate => {
            "Validating senders cannot establish trust in this answer, so they wait."
        }
        MxIpLiteral => "An MX that is an address is not a host name: senders cannot use it.",
        MxHostNoAddress => "A mail host without an address cannot receive mail.",
        MxNone => "A domain that does not exist receives no mail.",
        CertTrusted => {
            "A certificate from a public CA for the host satisfies every kind of sender."
        }
        TlsOldVersion => {
            "Current senders refuse TLS 1.0 and 1.1, so they send in cleartext or wait."
        }
        LimitReached => "The probe stopped short there; that part of the report is incomplete.",
        TlsaPartlyUnusable => "Records senders cannot use are clutter at best.",
        DaneNotApplicable => "DANE needs the mail host's zone to be signed too.",
        MtaStsEnforce => {
            "Senders that use MTA-STS refuse to deliver without valid TLS: stripping fails."
        }
        MtaStsTesting => {
            "In testing mode, senders only report problems: an attacker can still strip TLS."
        }
        MtaStsNone => "Mode none withdraws the policy: it protects nothing.",
        MtaStsMissing => {
            "MTA-STS lets senders that do not validate DNSSEC (Gmail among them) refuse downgrades."
        }
        MtaStsTxtInvalid => "Senders ignore a policy whose TXT record is broken.",
        MtaStsPolicyFetchFailed => "A policy senders cannot fetch does not protect their mail.",
        MtaStsPolicyInvalid => "Senders ignore a policy file they cannot read.",
        MtaStsMxNotCovered => {
            "Enforcing senders refuse to deliver to an MX host the policy does not list."
        }
        MtaStsMxCertInvalid => {
            "Enforcing senders refuse a server without a public certificate for its name."
        }
        TlsRptOk => {
            "Senders tell you every day what failed: you hear of problems before mail is lost."
        }
        TlsRptMissing => "Without TLS-RPT you do not hear of failed or downgraded TLS.",
        TlsRptInvalid => "Senders cannot send reports to an address they cannot read.",
        MtaStsEnforceUnsafe => {
            "Under enforce, servers without a public certificate stop receiving from MTA-STS senders."
        }
        SmtpUnresponsive => {
            "A server that never answers delays mail for everyone until senders try elsewhere."
        }
        AddressesDiffer => "Senders get a different key depending on the address they reach.",
        RrsigExpiring => {
            "When DNSSEC signatures run out, validating resolvers refuse the answers and senders queue mail."
        }
        CertExpiring => "Senders that check certificates refuse one the day it expires.",
        TlsRptStrippingOnPath => {
            "Senders on some paths see no STARTTLS where your server offers it: their mail goes in cleartext."
        }
        TlsRptFailureConfirmed => {
            "Real senders fail the way the probe says; the fix is the probe's."
        }
        TlsRptFailureNotSeen => {
            "Senders failed in ways the probe cannot see now: fixed since, or their path differs."
        }
        TlsRptUnknownMx => "Senders still try mail servers you no longer publish.",
        TlsRptStalePolicy => "Senders keep an old MTA-STS policy until they notice a new id.",
        TlsRptPolicyNotFound => {
            "Some senders delivered without your policy: it protected nothing for them."
        }
        TlsRptClean => "Real senders delivered over TLS as your policy asks.",
        LookaheadIncomplete => {
            "Signatures the probe could not read cannot be watched for expiry: the look-ahead is partial."
        }
        AddressEvidenceReused => {
            "A checker that connected every time would be limited or blocked by busy mail servers; what it saw a moment ago is still what senders meet, unless you changed the server since."
        }
        TlsaRolloverRisk => {
            "The next routine certificate renewal will no longer match your TLSA records, and DANE senders will queue mail."
        }
        TlsOldVersionsAccepted => {
            "Old TLS versions help only senders that speak nothing newer; audits flag them."
        }
        TlsWeakSuites => {
            "A sender that offers only broken suites gets encryption that can be broken."
        }
        TlsAnonymousSuites => {
            "Anonymous suites encrypt without a certificate: only senders that check none use them."
        }
        TlsNoServerOrder => "When the sender picks the suite, an old sender may pick a weak one.",
        TlsNoTls13 => {
            "TLS 1.3 is faster, stronger and the only version with post-quantum key exchange."
        }
        TlsNoExtendedMasterSecret => {
            "Without it a TLS 1.2 session's keys can be tied to another connection."
        }
        TlsInsecureRenegotiation => {
            "An attacker on the path can splice data in front of a sender's session."
        }
        TlsCompression => "Compressed TLS leaks what it carries (CRIME).",
        TlsWeakKeyExchange => "Small Diffie-Hellman groups can be broken by well-funded attackers.",
        TlsWeakSignatureHash => {
            "SHA-1 and MD5 signatures are deprecated: collisions make them forgeable."
        }
        TlsPostQuantum => {
            "Hybrid key exchange keeps recorded mail safe from future quantum computers."
        }
        TlsLargeHelloDropped => {
            "Senders whose hello is dropped cannot use TLS: cleartext or a wait."
        }
        TlsPostureReused => {
            "Versions and suites change rarely: they are shown from a recent check."
        }
        DnssecAlgorithmSha1 => {
            "Validators that refuse SHA-1 see the zone as unsigned: DANE stops for their senders."
        }
        DnssecAlgorithmBroken => {
            "No validator accepts this algorithm: the zone counts as unsigned everywhere."
        }
        DsDigestSha1Only => {
            "Validators that refuse SHA-1 cannot follow the delegation: the zone is unsigned to them."
        }
        DnssecDenialIterations => {
            "Validators skip costly NSEC3 proofs: a forged \"no TLSA\" answer would pass."
        }
        NsNoAnswer => {
            "Resolvers that pick a silent server wait, then try another: slow, and fragile."
        }
        NsNotAuthoritative => "A server that does not serve the zone sends resolvers elsewhere.",
        NsSerialBehind => {
            "Senders whose resolver asks the stale server see old records, intermittently."
        }
        NsRecordsDiffer => {
            "Senders see different records depending on which server answers: mail fails now and then."
        }
        NsSignaturesExpireFirst => {
            "When one server's signatures run out, its answers turn bogus and senders defer."
        }
        DnssecDenialOptOut => {
            "An opt-out span proves less than a plain denial: validators call the answer insecure."
        }
    }
}

/// The terms the report uses, explained once.
const GLOSSARY: &[(&str, &str)] = &[
    (
        "STARTTLS",
        "The SMTP command that turns a mail connection into an encrypted one. Offered by the receiving server; an attacker on the path can remove the offer.",
    ),
    (
        "EHLO",
        "The greeting a sending server sends; the receiver answers with what it supports, STARTTLS among it.",
    ),
    (
        "DNSSEC",
        "Signatures on DNS data, so that senders can tell a real answer from a forged one.",
    ),
    (
        "DANE",
        "Publishing your server's key in DNSSEC-signed TLSA records; senders that validate DANE then insist on an authenticated, encrypted connection.",
    ),
    (
        "TLSA",
        "The DNS record type that DANE uses, at _25._tcp.<mail host>.",
    ),
    (
        "3 1 1",
        "A TLSA record that pins the server's own public key (usage 3, DANE-EE) by its SHA-256 digest; names and dates do not matter.",
    ),
    (
        "2 1 1",
        "A TLSA record that pins a CA's public key (usage 2, DANE-TA); the server's certificate must chain to it and name the host.",
    ),
    (
        "DANE-EE",
        "TLSA usage 3: the record names the server's own key or certificate.",
    ),
    (
        "DANE-TA",
        "TLSA usage 2: the record names a CA that issued the server's certificate.",
    ),
    (
        "PKIX",
        "The usual certificate checks of the web: a chain to a public CA, the right name, valid dates.",
    ),
    (
        "MTA-STS",
        "A policy served over HTTPS (and announced in DNS) telling senders to insist on valid TLS to the listed MX hosts.",
    ),
    (
        "TLS-RPT",
        "A DNS record telling senders where to send daily reports of TLS failures.",
    ),
    (
        "rua",
        "In a TLS-RPT record: where reports go (a mailto: or https: address).",
    ),
    (
        "MX",
        "The DNS record naming the servers that receive mail for a domain, by preference.",
    ),
    (
        "SNI",
        "The host name a client sends at the start of TLS, so the server can pick its certificate.",
    ),
];

/// The glossary entries for the terms that appear in `report`'s findings and headline.
pub fn glossary(report: &Report) -> Vec<(&'static str, &'static str)> {
    let mut text = report.summary.headline.clone();
    for f in &report.findings {
        text.push(' ');
        text.push_str(&f.title);
        text.push(' ');
        text.push_str(&f.explanation);
        if let Some(fix) = &f.fix {
            text.push(' ');
            text.push_str(&fix.text);
        }
    }
    GLOSSARY
        .iter()
        .filter(|(term, _)| text.contains(term))
        .copied()
        .collect()
}
