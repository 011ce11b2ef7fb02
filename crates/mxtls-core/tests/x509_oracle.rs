//! The core's own DER reader (`der`, `cert`) against x509-parser, which the core used before
//! the browser build shed it: every certificate the tests have — generated here for each key
//! type and size, names, CA flags and both time forms; the test PKI; the test world's (the
//! fuzz seeds) and the frozen evidence fixture's — reads the same with both, fact by fact.

mod common;

#[path = "../../../tests/fuzz/src/x509_oracle.rs"]
mod x509_oracle;

use common::{Pki, Validity};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, KeyPair,
    RsaKeySize, SignatureAlgorithm,
};
use time::{Date, Month, OffsetDateTime, Time};

fn date(y: i32, m: Month, d: u8) -> OffsetDateTime {
    Date::from_calendar_date(y, m, d)
        .expect("valid date")
        .with_time(Time::from_hms(12, 34, 56).expect("time"))
        .assume_utc()
}

/// Both parsers read `der`, and read it the same (`agree` panics otherwise).
fn same(der: &[u8], what: &str) {
    assert!(
        x509_oracle::ours(der).is_some(),
        "{what}: the DER reader refuses it"
    );
    assert!(x509_oracle::agree(der), "{what}: x509-parser refuses it");
}

struct Shape {
    sans: &'static [&'static str],
    ca: IsCa,
    /// (not before, not after): years before 2050 are UTCTime, from 2050 GeneralizedTime.
    years: (i32, i32),
    rich_subject: bool,
}

fn cert(key: &KeyPair, shape: &Shape) -> Vec<u8> {
    let mut params =
        CertificateParams::new(shape.sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    let mut dn = DistinguishedName::new();
    if shape.rich_subject {
        dn.push(
            DnType::CountryName,
            DnValue::PrintableString("DE".try_into().expect("printable")),
        );
        dn.push(DnType::OrganizationName, "Bäckerei Müller & Söhne");
        dn.push(DnType::OrganizationalUnitName, "Mail");
        dn.push(DnType::LocalityName, "Köln");
        dn.push(DnType::StateOrProvinceName, "NRW");
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), "4711");
        dn.push(
            DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, 1]),
            "custom",
        );
    }
    dn.push(
        DnType::CommonName,
        shape.sans.first().copied().unwrap_or("mx.cn-only.example"),
    );
    params.distinguished_name = dn;
    params.is_ca = shape.ca;
    params.not_before = date(shape.years.0, Month::February, 29);
    params.not_after = date(shape.years.1, Month::December, 31);
    params.self_signed(key).expect("signs").der().to_vec()
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            sans: &["mx.example.org", "mx2.example.org"],
            ca: IsCa::NoCa,
            years: (2024, 2027),
            rich_subject: true,
        },
        Shape {
            sans: &["*.example.net"],
            ca: IsCa::ExplicitNoCa,
            years: (1996, 2052),
            rich_subject: false,
        },
        Shape {
            sans: &[],
            ca: IsCa::NoCa,
            years: (2000, 2049),
            rich_subject: false,
        },
        Shape {
            sans: &[],
            ca: IsCa::Ca(BasicConstraints::Unconstrained),
            years: (2052, 2096),
            rich_subject: true,
        },
        Shape {
            sans: &["ca.example"],
            ca: IsCa::Ca(BasicConstraints::Constrained(0)),
            years: (1952, 2048),
            rich_subject: false,
        },
    ]
}

#[test]
fn every_key_type_and_shape_reads_the_same() {
    let keys: Vec<(&str, KeyPair)> = vec![
        (
            "RSA 2048",
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).expect("rsa"),
        ),
        (
            "RSA 3072",
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA384, RsaKeySize::_3072).expect("rsa"),
        ),
        (
            "RSA 4096",
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA512, RsaKeySize::_4096).expect("rsa"),
        ),
        ("P-256", generate(&rcgen::PKCS_ECDSA_P256_SHA256)),
        ("P-384", generate(&rcgen::PKCS_ECDSA_P384_SHA384)),
        ("P-521", generate(&rcgen::PKCS_ECDSA_P521_SHA512)),
        ("Ed25519", generate(&rcgen::PKCS_ED25519)),
    ];
    let mut seen_bits = Vec::new();
    for (kind, key) in &keys {
        for (i, shape) in shapes().iter().enumerate() {
            let der = cert(key, shape);
            same(&der, &format!("{kind}, shape {i}"));
            let ours = x509_oracle::ours(&der).expect("parses");
            seen_bits.push(ours.facts.key_bits);
            assert_eq!(ours.dns_names, shape.sans, "{kind}, shape {i}");
        }
    }
    for bits in [2048, 3072, 4096, 256, 384, 256] {
        assert!(seen_bits.contains(&bits), "{bits}-bit keys were read");
    }
}

fn generate(alg: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg).expect("key")
}

#[test]
fn the_test_pki_reads_the_same() {
    let pki = Pki::new();
    let mut certs = vec![pki.root.der.clone(), pki.inter.der.clone()];
    for key in ["ee-ecdsa", "ee-rsa", "ee2-ecdsa"] {
        for validity in [Validity::Current, Validity::Expired, Validity::RenewalDue] {
            certs.extend(pki.chain(&["mx.example.org", "*.example.org"], key, validity));
        }
    }
    for (i, der) in certs.iter().enumerate() {
        same(der, &format!("test PKI certificate {i}"));
    }
}

/// The test world's certificates (the fuzz target's seeds, written from it) and any
/// certificate in the frozen evidence fixture.
#[test]
fn the_test_worlds_certificates_read_the_same() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let seeds = std::fs::read_dir(format!("{root}/fuzz/seeds/certificate")).expect("seeds");
    let mut read = 0;
    for entry in seeds {
        let path = entry.expect("entry").path();
        let der = std::fs::read(&path).expect("read");
        if x509_oracle::agree(&der) {
            read += 1;
        } else {
            assert!(
                x509_oracle::ours(&der).is_none() && x509_oracle::oracle(&der).is_none(),
                "{}: only one parser reads it",
                path.display()
            );
        }
    }
    assert!(read >= 10, "the world's certificates were read ({read})");

    let fixture = std::fs::read_to_string(format!(
        "{}/tests/fixtures/evidence-v1.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let json: serde_json::Value = serde_json::from_str(&fixture).expect("json");
    let mut strings = Vec::new();
    collect_strings(&json, &mut strings);
    use base64::Engine as _;
    for s in strings {
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(s)
            && der.first() == Some(&0x30)
            && x509_oracle::oracle(&der).is_some()
        {
            same(&der, "the evidence fixture's certificate");
        }
    }
}

fn collect_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Our distinguished-name text is x509-parser's `Display` (which the browser build does
/// without), for the names certificates really carry.
#[test]
fn names_read_as_x509_parser_writes_them() {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let key = generate(&rcgen::PKCS_ECDSA_P256_SHA256);
    for shape in shapes() {
        let der = cert(&key, &shape);
        let (_, x509) = X509Certificate::from_der(&der).expect("parses");
        let ours = mxtls_core::cert::ParsedCert::parse(&der).expect("parses");
        // An attribute type without a name: x509-parser writes `OID(1.3.…)`, the core (as it
        // did over x509-parser) the bare dotted OID.
        let theirs = x509
            .subject()
            .to_string()
            .replace("OID(1.3.6.1.4.1.99999.1)", "1.3.6.1.4.1.99999.1");
        assert_eq!(mxtls_core::cert::name_text(ours.subject_raw()), theirs);
    }
}

/// Where x509-parser was lenient the DER reader refuses: trailing bytes, a repeated or
/// malformed subject alternative name (x509-parser read no DNS names from it and matched the
/// CN instead). Every truncation of a certificate is refused, none panics.
#[test]
fn what_the_reader_refuses() {
    use mxtls_core::cert::ParsedCert;
    let key = generate(&rcgen::PKCS_ECDSA_P256_SHA256);
    let with = |content: Vec<Vec<u8>>| {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        for c in content {
            params
                .custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 17], c));
        }
        params.self_signed(&key).expect("signs").der().to_vec()
    };
    // SEQUENCE { [2] "mx.example" }, and one whose name is not UTF-8.
    let san = b"\x30\x0c\x82\x0amx.example".to_vec();
    let good = with(vec![san.clone()]);
    same(&good, "one SAN");

    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        ParsedCert::parse(&trailing).err().as_deref(),
        Some("certificate has trailing bytes")
    );
    for (der, why) in [
        (with(vec![san.clone(), san]), "extension repeated"),
        (
            with(vec![b"\x30\x03\x82\x01\xff".to_vec()]),
            "SAN not UTF-8",
        ),
        (
            with(vec![b"\x30\x03\x82\x05a".to_vec()]),
            "length past the end",
        ),
    ] {
        assert!(x509_oracle::oracle(&der).is_some(), "x509-parser reads it");
        let err = ParsedCert::parse(&der).err().expect("refused");
        assert!(err.ends_with(why), "{err}");
    }
    for len in 0..good.len() {
        assert!(
            ParsedCert::parse(&good[..len]).is_err(),
            "truncated at {len}"
        );
    }
}
