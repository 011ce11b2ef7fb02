//! Test support: certificate chains made with rcgen from fixed keys (so that key digests, and
//! thus golden output, are stable), and evidence built the way the probe records it.
#![allow(dead_code)]

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, TLSA};
use hickory_proto::rr::{Name, RData};
use mxtls_core::dns;
use mxtls_core::evidence::*;
use mxtls_core::names::{DnsName, RecordType};
use mxtls_core::report::{AddressReport, Report, Verdict};
use mxtls_core::tls::{CipherSuite, NamedGroup, TlsVersion};
use mxtls_core::{Code, Finding, Severity, analyse};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Date, Month, OffsetDateTime, Time};

/// The judgement time of every test: 2026-11-28 00:00 UTC.
pub const NOW: UnixTime = UnixTime(1_795_824_000);

pub fn key(name: &str) -> KeyPair {
    let path = format!("{}/tests/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    let pem = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    KeyPair::from_pem(&pem).expect("test key parses")
}

fn date(y: i32, m: Month, d: u8) -> OffsetDateTime {
    Date::from_calendar_date(y, m, d)
        .expect("valid date")
        .with_time(Time::MIDNIGHT)
        .assume_utc()
}

/// Validity windows relative to [`NOW`].
#[derive(Clone, Copy)]
pub enum Validity {
    Current,
    Expired,
    /// A 90-day certificate with 11 days left: its ACME renewal was due 19 days ago.
    RenewalDue,
}

fn dates(params: &mut CertificateParams, v: Validity) {
    let (from, to) = match v {
        Validity::Current => (date(2026, Month::June, 1), date(2027, Month::June, 1)),
        Validity::Expired => (date(2025, Month::January, 1), date(2026, Month::January, 1)),
        Validity::RenewalDue => (
            date(2026, Month::September, 10),
            date(2026, Month::December, 9),
        ),
    };
    params.not_before = from;
    params.not_after = to;
}

/// A CA that can issue.
pub struct Ca {
    pub der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A self-signed root.
    pub fn root(cn: &str, key_name: &str) -> Ca {
        let kp = key(key_name);
        let params = ca_params(cn);
        let cert = params.self_signed(&kp).expect("root signs");
        Ca {
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, kp),
        }
    }

    /// An intermediate CA issued by `self`.
    pub fn intermediate(&self, cn: &str, key_name: &str) -> Ca {
        self.intermediate_of(cn, None, key_name)
    }

    /// An intermediate CA issued by `self`, with an organisation name in its subject.
    pub fn intermediate_of(&self, cn: &str, org: Option<&str>, key_name: &str) -> Ca {
        let kp = key(key_name);
        let mut params = ca_params(cn);
        if let Some(org) = org {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
        }
        let cert = params
            .signed_by(&kp, &self.issuer)
            .expect("intermediate signs");
        Ca {
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, kp),
        }
    }

    /// An end-entity certificate for `names` (the first is also the CN).
    pub fn leaf(&self, names: &[&str], key_name: &str, validity: Validity) -> Vec<u8> {
        let kp = key(key_name);
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("names");
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("no-name"),
        );
        params.distinguished_name = dn;
        dates(&mut params, validity);
        params
            .signed_by(&kp, &self.issuer)
            .expect("leaf signs")
            .der()
            .to_vec()
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = date(2025, Month::January, 1);
    params.not_after = date(2035, Month::January, 1);
    params
}

/// The standard test PKI: root → intermediate → leaves.
pub struct Pki {
    pub root: Ca,
    pub inter: Ca,
}

impl Pki {
    pub fn new() -> Pki {
        let root = Ca::root("mxtls test root", "root-ecdsa");
        let inter = root.intermediate("mxtls test intermediate", "inter-ecdsa");
        Pki { root, inter }
    }

    /// leaf + intermediate, as a server normally sends it.
    pub fn chain(&self, names: &[&str], key_name: &str, validity: Validity) -> Vec<Vec<u8>> {
        vec![
            self.inter.leaf(names, key_name, validity),
            self.inter.der.clone(),
        ]
    }
}

/// The SubjectPublicKeyInfo of a DER certificate, extracted by OpenSSL: the records the
/// tests publish never come from the core's own certificate code.
pub fn spki(der: &[u8]) -> Vec<u8> {
    mxtls_world::openssl::spki(der)
}

/// TLSA association data for `cert` with `selector` and `matching` (RFC 6698 §2.1),
/// computed by OpenSSL.
pub fn association(cert: &[u8], selector: u8, matching: u8) -> Vec<u8> {
    let selected = if selector == 0 {
        cert.to_vec()
    } else {
        spki(cert)
    };
    match matching {
        0 => selected,
        1 => mxtls_world::openssl::sha256(&selected),
        _ => mxtls_world::openssl::sha512(&selected),
    }
}

pub fn tlsa(usage: u8, selector: u8, matching: u8, cert: &[u8]) -> TLSA {
    TLSA::new(
        usage.into(),
        selector.into(),
        matching.into(),
        association(cert, selector, matching),
    )
}

pub fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("name")
}

fn hname(s: &str) -> Name {
    Name::from_ascii(format!("{s}.")).expect("name")
}

/// A DNS answer as the probe records it.
pub fn answer(qname: &str, qtype: RecordType, rdata: Vec<RData>, dnssec: DnssecState) -> DnsAnswer {
    let q = name(qname);
    let outcome = if rdata.is_empty() {
        DnsOutcome::NoData
    } else {
        DnsOutcome::Data
    };
    DnsAnswer {
        records: rdata.iter().map(|r| dns::encode(&q, 300, r)).collect(),
        qname: q,
        qtype,
        outcome,
        rcode: Some(0),
        cname_chain: Vec::new(),
        dnssec,
        validation_failed: false,
        wire: None,
        elapsed_ms: Some(3),
    }
}

pub fn failed_answer(
    qname: &str,
    qtype: RecordType,
    outcome: DnsOutcome,
    dnssec: DnssecState,
) -> DnsAnswer {
    let mut a = answer(qname, qtype, Vec::new(), dnssec.clone());
    // As the probe records it: a validation failure is flagged only on an answer that came.
    a.validation_failed = dnssec.is_failed() && !outcome.is_failure();
    a.outcome = outcome;
    a.rcode = Some(2);
    a
}

pub fn mx_rdata(pref: u16, host: &str) -> RData {
    RData::MX(MX::new(
        pref,
        if host == "." {
            Name::root()
        } else {
            hname(host)
        },
    ))
}

pub fn cname_rdata(target: &str) -> RData {
    RData::CNAME(CNAME(hname(target)))
}

fn reply(code: u16, lines: &[&str]) -> Reply {
    Reply {
        code,
        lines: lines.iter().map(|s| s.to_string()).collect(),
    }
}

/// A session that ran to QUIT and presented `chain`.
pub fn tls_session(chain: &[Vec<u8>], offered: KeyTypeOffer, sni: &str) -> SmtpSession {
    SmtpSession {
        tls: Some(TlsEvidence {
            sni: name(sni),
            version: Some(TlsVersion::TLS13),
            cipher_suite: Some(CipherSuite(0x1302)),
            kx_group: Some(NamedGroup(0x001d)),
            chain: chain.iter().map(|c| Bytes(c.clone())).collect(),
        }),
        starttls: Some(reply(220, &["2.0.0 Ready to start TLS"])),
        ehlo_tls: Some(reply(250, &["mx.test", "PIPELINING", "SIZE 10240000"])),
        offered,
        ..plain_session(&["mx.test", "PIPELINING", "STARTTLS", "8BITMIME"])
    }
}

/// A session that stopped after a cleartext EHLO with these lines.
pub fn plain_session(ehlo: &[&str]) -> SmtpSession {
    SmtpSession {
        banner: Some(reply(220, &["mx.test ESMTP"])),
        ehlo: Some(reply(250, ehlo)),
        ..SmtpSession::new(25, KeyTypeOffer::Any)
    }
}

/// A session that stopped at `step` with `error`.
pub fn stopped_session(step: Step, error: SessionError) -> SmtpSession {
    let mut s = plain_session(&["mx.test", "STARTTLS"]);
    if step <= Step::Banner {
        s.banner = None;
    }
    if step <= Step::Ehlo {
        s.ehlo = None;
    }
    s.stopped = Some(SessionStop {
        step,
        error,
        at_ms: None,
    });
    s
}

/// One mail host of a scenario.
pub struct Host {
    pub name: String,
    pub preference: Option<u16>,
    pub ips: Vec<String>,
    pub address_dnssec: DnssecState,
    /// TLSA answers as the probe made them; empty when none was looked up.
    pub tlsa: Vec<DnsAnswer>,
    pub sessions: Vec<SmtpSession>,
    pub refused: bool,
    pub cname_to: Option<String>,
}

impl Host {
    pub fn new(name: &str) -> Host {
        Host {
            name: name.into(),
            preference: Some(10),
            ips: vec!["192.0.2.25".into()],
            address_dnssec: DnssecState::Secure,
            tlsa: Vec::new(),
            sessions: Vec::new(),
            refused: false,
            cname_to: None,
        }
    }

    /// A secure TLSA RRset with `records`.
    pub fn tlsa(mut self, records: Vec<TLSA>) -> Host {
        let owner = format!("_25._tcp.{}", self.name);
        self.tlsa = vec![answer(
            &owner,
            RecordType::TLSA,
            records.into_iter().map(RData::TLSA).collect(),
            DnssecState::Secure,
        )];
        self
    }

    pub fn tlsa_answer(mut self, a: DnsAnswer) -> Host {
        self.tlsa = vec![a];
        self
    }

    pub fn session(mut self, s: SmtpSession) -> Host {
        self.sessions.push(s);
        self
    }

    pub fn serves(self, chain: &[Vec<u8>]) -> Host {
        let sni = self.name.clone();
        self.session(tls_session(chain, KeyTypeOffer::Any, &sni))
    }

    pub fn address_dnssec(mut self, s: DnssecState) -> Host {
        self.address_dnssec = s;
        self
    }

    fn evidence(&self) -> HostEvidence {
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = self
            .ips
            .iter()
            .map(|ip| ip.parse::<IpAddr>().expect("ip"))
            .partition(IpAddr::is_ipv4);
        let rdata = |ips: Vec<IpAddr>| -> Vec<RData> {
            ips.into_iter()
                .map(|ip| match ip {
                    IpAddr::V4(v4) => RData::A(A(v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                })
                .collect()
        };
        let mut a = answer(
            &self.name,
            RecordType::A,
            rdata(v4),
            self.address_dnssec.clone(),
        );
        if let Some(target) = &self.cname_to {
            a.cname_chain = vec![CnameLink {
                from: name(&self.name),
                to: name(target),
                dnssec: self.address_dnssec.clone(),
            }];
            for r in &mut a.records {
                r.name = name(target);
            }
        }
        let aaaa = answer(
            &self.name,
            RecordType::AAAA,
            rdata(v6),
            self.address_dnssec.clone(),
        );
        HostEvidence {
            name: name(&self.name),
            origin: match self.preference {
                Some(preference) => HostOrigin::Mx { preference },
                None => HostOrigin::Implicit,
            },
            a: Some(a),
            aaaa: Some(aaaa),
            tlsa: if self.tlsa.is_empty() && self.address_dnssec.is_secure() {
                vec![answer(
                    &format!("_25._tcp.{}", self.name),
                    RecordType::TLSA,
                    Vec::new(),
                    DnssecState::Secure,
                )]
            } else {
                self.tlsa.clone()
            },
            addresses: self
                .ips
                .iter()
                .map(|ip| AddressEvidence {
                    ip: ip.parse::<IpAddr>().expect("ip"),
                    target: if self.refused {
                        TargetDecision::Refused {
                            reason: "private-use address (RFC 1918)".into(),
                        }
                    } else {
                        TargetDecision::Allowed
                    },
                    sessions: if self.refused {
                        Vec::new()
                    } else {
                        self.sessions.clone()
                    },
                    probed_for: None,
                    reused: None,
                    posture: None,
                })
                .collect(),
        }
    }
}

/// A whole mail domain.
pub struct Scenario {
    pub domain: String,
    pub mx_dnssec: DnssecState,
    pub hosts: Vec<Host>,
    /// Overrides the MX answer built from `hosts`.
    pub mx_answer: Option<DnsAnswer>,
    pub extra_roots: Vec<Vec<u8>>,
    pub rrsigs: RrsigSupport,
}

impl Scenario {
    pub fn new(domain: &str) -> Scenario {
        Scenario {
            domain: domain.into(),
            mx_dnssec: DnssecState::Secure,
            hosts: Vec::new(),
            mx_answer: None,
            extra_roots: Vec::new(),
            rrsigs: RrsigSupport::Present,
        }
    }

    pub fn host(mut self, h: Host) -> Scenario {
        self.hosts.push(h);
        self
    }

    pub fn evidence(&self) -> Evidence {
        let mx = self.mx_answer.clone().unwrap_or_else(|| {
            let records = self
                .hosts
                .iter()
                .filter_map(|h| h.preference.map(|p| mx_rdata(p, &h.name)))
                .collect();
            answer(
                &self.domain,
                RecordType::MX,
                records,
                self.mx_dnssec.clone(),
            )
        });
        Evidence {
            schema: SCHEMA_VERSION,
            probe: ProbeInfo {
                version: "test".into(),
                started_at: NOW,
                finished_at: NOW,
                vantage: None,
                ehlo: None,
                source: Vec::new(),
            },
            domain: name(&self.domain),
            resolver: ResolverEvidence {
                address: "127.53.0.1:53".into(),
                rrsigs: self.rrsigs,
            },
            mx,
            hosts: self.hosts.iter().map(Host::evidence).collect(),
            mta_sts: MtaStsEvidence::default(),
            tls_rpt: None,
            limits_hit: Vec::new(),
            settings: ProbeSettings {
                extra_pkix_roots: self.extra_roots.iter().map(|r| Bytes(r.clone())).collect(),
                allow_private_targets: true,
            },
            dnssec_chain: Vec::new(),
            authoritative: Vec::new(),
        }
    }

    pub fn report(&self) -> Report {
        analyse(&self.evidence(), NOW)
    }
}

pub fn codes(r: &Report) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

pub fn finding(r: &Report, code: Code) -> &Finding {
    r.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:?}", codes(r)))
}

pub fn has(r: &Report, code: Code) -> bool {
    r.findings.iter().any(|f| f.code == code)
}

pub fn severity(r: &Report, code: Code) -> Severity {
    finding(r, code).severity
}

pub fn first_address(r: &Report) -> &AddressReport {
    &r.mx[0].addresses[0]
}

pub fn verdict(r: &Report) -> Verdict {
    first_address(r).tls
}
