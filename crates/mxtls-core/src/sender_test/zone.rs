//! What the operator publishes for the sender test: the records of every test domain (for
//! the operator's signed zone) and the MTA-STS policies (for their web server), written by
//! `mxtls sender-test zone`. The receivers' certificate decides the TLSA records: DANE-EE
//! (`3 1 1`, RFC 7671 §5), so it survives renewal with the same key and needs no CA.

use std::fmt::Write;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::Case;
use crate::cert::ParsedCert;
use crate::names::DnsName;
use crate::tlsa::hex;

/// The port in every TLSA owner name: senders look up `_25._tcp.<MX host>` (RFC 7672 §2.2),
/// whatever port the receivers themselves listen on behind a port forward.
pub const SMTP_PORT: u16 = 25;

/// What the records are made of.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The delegated, DNSSEC-signed zone the test domains live under.
    pub zone: DnsName,
    /// Each case's receiver address (the address its MX host has).
    pub receivers: Vec<(Case, IpAddr)>,
    /// SHA-256 of the receivers' public key (SubjectPublicKeyInfo).
    pub spki_sha256: [u8; 32],
    /// The web server that serves the MTA-STS policies (`mta-sts.<domain>`), if known.
    pub policy_hosts: Vec<IpAddr>,
    /// The MTA-STS policy id (change it when a policy changes).
    pub sts_id: String,
}

/// SHA-256 of a certificate's public key, what the TLSA records carry.
pub fn spki_sha256(cert_der: &[u8]) -> Result<[u8; 32], String> {
    let cert = ParsedCert::parse(cert_der)?;
    Ok(Sha256::digest(cert.spki()).into())
}

/// The association data `case` publishes under DANE-EE SPKI SHA-256, if it publishes any:
/// the receivers' key, or, for `dane-mismatch`, a digest that matches no key (the key's
/// digest hashed again).
pub fn tlsa_data(case: Case, spki_sha256: &[u8; 32]) -> Option<[u8; 32]> {
    match case {
        Case::DaneMismatch => Some(Sha256::digest(spki_sha256).into()),
        c if c.tlsa() => Some(*spki_sha256),
        _ => None,
    }
}

/// The zone-file records of every test domain, absolute names, with comments saying why.
pub fn records(plan: &Plan) -> String {
    let zone = &plan.zone;
    let mut out = format!(
        "; mxtls sender test: the test domains under {zone}.\n\
         ; Add to the zone {zone}, which must be signed (DNSSEC) and delegated with a DS record.\n"
    );
    for &(case, address) in &plan.receivers {
        let domain = case.domain(zone);
        let host = case.mx_host(zone);
        let rtype = if address.is_ipv4() { "A" } else { "AAAA" };
        let _ = writeln!(out, "\n; {}: {}", case.label(), describe(case));
        let _ = writeln!(out, "{domain}. 300 IN MX 10 {host}.");
        let _ = writeln!(out, "{host}. 300 IN {rtype} {address}");
        if let Some(data) = tlsa_data(case, &plan.spki_sha256) {
            let _ = writeln!(
                out,
                "{}. 300 IN TLSA 3 1 1 {}",
                host.tlsa_owner(SMTP_PORT),
                hex(&data)
            );
        }
        if case.sts_enforce() {
            let _ = writeln!(
                out,
                "_mta-sts.{domain}. 300 IN TXT \"v=STSv1; id={}\"",
                plan.sts_id
            );
            if plan.policy_hosts.is_empty() {
                let _ = writeln!(
                    out,
                    "; mta-sts.{domain}. must reach the web server that serves policies/{domain}/"
                );
            }
            for ip in &plan.policy_hosts {
                let rtype = if ip.is_ipv4() { "A" } else { "AAAA" };
                let _ = writeln!(out, "mta-sts.{domain}. 300 IN {rtype} {ip}");
            }
        }
    }
    out
}

/// The MTA-STS policy `case`'s domain serves at
/// `https://mta-sts.<domain>/.well-known/mta-sts.txt`, if it has one: `enforce`, naming its
/// MX host (for `sts-wrong-name` too — the policy is right, the certificate is not).
pub fn policy(case: Case, zone: &DnsName) -> Option<String> {
    case.sts_enforce().then(|| {
        format!(
            "version: STSv1\r\nmode: enforce\r\nmx: {}\r\nmax_age: 86400\r\n",
            case.mx_host(zone)
        )
    })
}

/// One line on what a test domain is for.
pub fn describe(case: Case) -> &'static str {
    match case {
        Case::DaneValid => "TLSA records that match the receiver: the control for DANE",
        Case::DaneMismatch => "TLSA records that match nothing: a DANE sender must not deliver",
        Case::SignedNoTlsa => "signed, no TLSA records: opportunistic TLS",
        Case::StsEnforce => "MTA-STS enforce, a valid certificate: the control for MTA-STS",
        Case::StsWrongName => {
            "MTA-STS enforce, a certificate for another name: an enforcing sender must refuse"
        }
        Case::StarttlsBroken => {
            "STARTTLS offered, then the handshake fails: does the sender fall back to cleartext?"
        }
        Case::StarttlsStripped => {
            "STARTTLS masked as XXXXXXXA, TLSA published: a DANE sender must not send in cleartext"
        }
        Case::NoStarttls => "no STARTTLS: the control for cleartext",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let zone = DnsName::parse("st.example").expect("zone");
        Plan {
            receivers: Case::ALL
                .into_iter()
                .zip(1u8..)
                .map(|(c, i)| (c, IpAddr::from([192, 0, 2, i])))
                .collect(),
            zone,
            spki_sha256: [7; 32],
            policy_hosts: vec![IpAddr::from([192, 0, 2, 100])],
            sts_id: "20261206".into(),
        }
    }

    #[test]
    fn every_domain_gets_its_records_and_only_its_own() {
        let text = records(&plan());
        let key = hex(&[7; 32]);
        let mismatch = hex(&tlsa_data(Case::DaneMismatch, &[7; 32]).expect("data"));
        assert_ne!(key, mismatch);
        for line in [
            "dane-valid.st.example. 300 IN MX 10 mx-dane-valid.st.example.",
            "mx-dane-valid.st.example. 300 IN A 192.0.2.1",
            &format!("_25._tcp.mx-dane-valid.st.example. 300 IN TLSA 3 1 1 {key}"),
            &format!("_25._tcp.mx-dane-mismatch.st.example. 300 IN TLSA 3 1 1 {mismatch}"),
            &format!("_25._tcp.mx-starttls-stripped.st.example. 300 IN TLSA 3 1 1 {key}"),
            "sts-wrong-name.st.example. 300 IN MX 10 mx.sts-wrong-name.st.example.",
            "_mta-sts.sts-enforce.st.example. 300 IN TXT \"v=STSv1; id=20261206\"",
            "mta-sts.sts-wrong-name.st.example. 300 IN A 192.0.2.100",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        for absent in [
            "_25._tcp.mx-dnssec-no-tlsa",
            "_25._tcp.mx-no-starttls",
            "_mta-sts.dane-valid",
        ] {
            assert!(!text.contains(absent), "{absent:?} must not be in\n{text}");
        }
    }

    #[test]
    fn policies_enforce_and_name_each_domains_own_host() {
        let zone = DnsName::parse("st.example").expect("zone");
        let p = policy(Case::StsWrongName, &zone).expect("policy");
        let parsed = crate::mta_sts::parse_policy(p.as_bytes()).expect("parses");
        assert_eq!(parsed.mode, crate::report::Mode::Enforce);
        assert_eq!(parsed.mx, vec!["mx.sts-wrong-name.st.example".to_owned()]);
        assert!(policy(Case::DaneValid, &zone).is_none());
        // The wildcard certificate `*.st.example` covers every host but sts-wrong-name's.
        for case in Case::ALL {
            let host = case.mx_host(&zone);
            let covered = crate::mta_sts::mx_matches("*.st.example", &host);
            assert_eq!(covered, case != Case::StsWrongName, "{host}");
            assert_eq!(Case::of_mx_host(&host, &zone), Some(case));
        }
    }
}
