//! Golden tests of the text renderer, and the frozen evidence fixture that every later
//! version must keep reading (design: "old snapshots keep loading").
//!
//! The golden files were reviewed line by line; every line that carries a judgement is
//! pinned below with the rule that makes it right, and the digests in them are checked with
//! OpenSSL. `UPDATE_GOLDEN=1 cargo test -p mxtls-core --test golden` rewrites the files and
//! then fails on purpose: review the diff (and the pinned lines) before committing it.

mod common;

use common::*;
use mxtls_core::evidence::Evidence;
use mxtls_core::report::Verdict;
use mxtls_core::{Code, analyse, render};

const MX: &str = "mx.example.org";

/// Compares `actual` with the golden file `name`, and checks that every pinned line is in
/// it exactly.
fn check(name: &str, actual: &str, pinned: &[(&str, &str)]) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        panic!(
            "{path} rewritten: review the diff and the pinned lines, then run without UPDATE_GOLDEN"
        );
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run with UPDATE_GOLDEN=1)"));
    for (line, why) in pinned {
        assert!(
            expected.lines().any(|l| l == *line),
            "{name} lacks the pinned line {line:?} ({why})"
        );
    }
    assert_eq!(actual, expected, "{name} differs from the golden file");
}

/// The `3 1 1` association data of a key, by OpenSSL (hex).
fn openssl_3_1_1(cert: &[u8]) -> String {
    mxtls_world::openssl::hex(&mxtls_world::openssl::sha256(&mxtls_world::openssl::spki(
        cert,
    )))
}

/// The lines of dane-ok.txt that carry a judgement, and why each is right.
const DANE_OK: &[(&str, &str)] = &[
    (
        "Mail to example.org is protected for senders that validate DANE: DANE authenticates every MX host, and STARTTLS cannot be stripped from them.",
        "RFC 7672 §3.1.1: the only address presents the key its 3 1 1 record pins",
    ),
    (
        "Protected against STARTTLS stripping: by DANE, for senders that validate it; other senders can still be downgraded to cleartext",
        "RFC 7672 §2.2: secure MX, A/AAAA and TLSA oblige DANE senders to use TLS",
    ),
    (
        "MX 10 mx.example.org  DANE: applies",
        "RFC 7672 §2.2: every lookup behind the host is secure and a record is usable",
    ),
    (
        "  mx.example.org AAAA: nodata, secure",
        "RFC 4035 §5.4: a signed denial is an answer, not a failure",
    ),
    (
        "  TLSA 3 1 1 e074dbc48f37…d7be0856  usable, matches ECDSA end entity at 192.0.2.25",
        "RFC 6698 §2.1: selector 1 (SPKI) + matching 1 (SHA-256) of the leaf; the digest is OpenSSL's",
    ),
    (
        "  192.0.2.25                               verified by DANE",
        "RFC 7672 §3.1.1: DANE-EE authenticates the address",
    ),
    (
        "      delivered with authenticated TLS via mx.example.org; if an attacker strips STARTTLS: the attack is blocked: the sender waits instead",
        "RFC 7672 §2.2: a DANE sender refuses cleartext to a host with usable TLSA",
    ),
    (
        "      delivered encrypted, not authenticated via mx.example.org; if an attacker strips STARTTLS: the attack works: mail in cleartext",
        "RFC 3207 §6: without DANE or MTA-STS, opportunistic senders cannot detect stripping",
    ),
    (
        "  NOTICE  cert-untrusted  mx.example.org [192.0.2.25]",
        "RFC 7672 §3.1.1: PKIX does not matter under DANE-EE (the test root is not public): a notice",
    ),
    (
        "  NOTICE  tlsa-no-rollover  mx.example.org",
        "RFC 7671 §8: a single 3 1 1 record breaks at the next key change",
    ),
    (
        "  NOTICE  mta-sts-missing  example.org",
        "RFC 8461 §2: DANE already protects; MTA-STS would add non-validating senders: a notice",
    ),
    (
        "  mx.example.org  192.0.2.25  ECDSA   yes        TLSv1.3   verified     not public  no policy",
        "the grid: STARTTLS works, TLS 1.3, DANE-EE matches (RFC 7672 §3.1.1), the test CA is not public",
    ),
    (
        "  OK     dane-verified (1)",
        "RFC 7672 §3: the check that passed, folded with the other OK results",
    ),
    (
        "0 errors, 0 warnings, 4 notices, 1 ok",
        "nothing makes a sender defer, bounce or send in cleartext",
    ),
];

/// The lines of mismatch-and-cleartext.txt that carry a judgement, and why each is right.
const MISMATCH_AND_CLEARTEXT: &[(&str, &str)] = &[
    (
        "Mail to example.org can travel in cleartext: STARTTLS to mx2.example.org is being stripped on the path.",
        "RFC 3207 §6: mx2's STARTTLS is overwritten on the way; the cause comes first",
    ),
    (
        "Protected against STARTTLS stripping: no",
        "RFC 7672 §2.2: mx2 has no TLSA, so DANE does not protect every host",
    ),
    (
        "  TLSA 1 1 1 04f5b76b1d7e…af2001e0  unusable: usage 1 (PKIX-EE) is not used for SMTP: MTAs have no PKIX trust store to apply it to",
        "RFC 7672 §3.1.3: usages 0 and 1 are unusable for SMTP",
    ),
    (
        "  TLSA 3 1 1 04f5b76b1d7e…af2001e0  usable, but matches no presented certificate",
        "RFC 7672 §3.1: the record pins the rotated-out key (OpenSSL: not the leaf presented)",
    ),
    (
        "  192.0.2.25                               encrypted, not authenticated",
        "RFC 7672 §3.1: with no matching record the address is not authenticated",
    ),
    (
        "  2001:db8::25                             no STARTTLS: cleartext",
        "RFC 3207 §6: XXXXXXXA where STARTTLS belongs",
    ),
    (
        "      delivered in cleartext via mx2.example.org; if an attacker strips STARTTLS: the attack works: mail in cleartext",
        "RFC 7672 §2.2.2: a DANE sender skips the failing mx and falls to mx2, which has no TLSA and no STARTTLS",
    ),
    (
        "  ERROR   tlsa-mismatch  mx.example.org [192.0.2.25]",
        "RFC 7672 §3.1: DANE senders refuse this host, and the only other one takes their mail in cleartext: an error",
    ),
    (
        "  ERROR   starttls-stripped  mx2.example.org [2001:db8::25]",
        "RFC 3207 §6: a middlebox overwrote STARTTLS",
    ),
    (
        "  WARNING mta-sts-missing  example.org",
        "RFC 8461 §2: nothing protects against stripping: a warning",
    ),
    (
        "  NOTICE  tlsa-partly-unusable  mx.example.org",
        "RFC 7672 §3.1.3: the 1 1 1 record is ignored beside a usable one",
    ),
    (
        "  1. STARTTLS to mx2.example.org is being stripped on the path",
        "RFC 3207 §6: cleartext for every sender is the most harmful problem, so it is done first",
    ),
    (
        "  mx2.example.org  2001:db8::25  —       no         —         not used     —           no policy",
        "the grid: no STARTTLS at mx2, hence no TLS, DANE not published, no certificate",
    ),
    (
        "2 errors, 1 warning, 3 notices, 0 ok",
        "the two problems that defer or expose mail are the errors",
    ),
];

fn dane_ok() -> Scenario {
    let pki = Pki::new();
    let chain = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    Scenario::new("example.org").host(
        Host::new(MX)
            .tlsa(vec![tlsa(3, 1, 1, &chain[0])])
            .serves(&chain),
    )
}

fn mismatch_and_cleartext() -> Scenario {
    let pki = Pki::new();
    let old = pki.chain(&[MX], "ee2-ecdsa", Validity::Current);
    let now = pki.chain(&[MX], "ee-ecdsa", Validity::Current);
    let mut mx2 = Host::new("mx2.example.org").session(plain_session(&[
        "mx2.example.org",
        "PIPELINING",
        "XXXXXXXA",
    ]));
    mx2.preference = Some(20);
    mx2.ips = vec!["2001:db8::25".into()];
    Scenario::new("example.org")
        .host(
            Host::new(MX)
                .tlsa(vec![tlsa(3, 1, 1, &old[0]), tlsa(1, 1, 1, &old[0])])
                .serves(&now),
        )
        .host(mx2)
}

/// The text report of a DANE-verified domain (RFC 7672 §3.1.1).
#[test]
fn text_dane_ok() {
    check(
        "dane-ok.txt",
        &render::text(&dane_ok().report(), false),
        DANE_OK,
    );
    // The digest in the golden file is OpenSSL's SHA-256 of the leaf's SPKI.
    let leaf = &Pki::new().chain(&[MX], "ee-ecdsa", Validity::Current)[0];
    let expected = std::fs::read_to_string(format!(
        "{}/tests/golden/dane-ok.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("golden");
    assert!(expected.contains(&format!(
        "_25._tcp.mx.example.org. IN TLSA 3 1 1 {}",
        openssl_3_1_1(leaf)
    )));
}

/// The text report of a rotated key and a stripped second MX, with fixes.
#[test]
fn text_mismatch_and_cleartext() {
    check(
        "mismatch-and-cleartext.txt",
        &render::text(&mismatch_and_cleartext().report(), false),
        MISMATCH_AND_CLEARTEXT,
    );
}

#[test]
fn colour_only_when_asked() {
    let r = dane_ok().report();
    assert!(!render::text(&r, false).contains('\x1b'));
    assert!(render::text(&r, true).contains("\x1b[32m"));
}

/// The SHA-256 of evidence-v1.json: the fixture is frozen, never regenerated by the code
/// it tests.
const EVIDENCE_V1_SHA256: &str = "9cb1746deae5e4427a850e24f14478b85dde8c8610f5e12effabfcdce5319f6f";

/// Evidence written by schema 1 keeps loading and judging the same way; what it judges is
/// checked against OpenSSL: the 3 1 1 record pins a key the server does not present, and
/// the fix publishes the key it does.
#[test]
fn evidence_v1_fixture_still_loads() {
    let path = format!(
        "{}/tests/fixtures/evidence-v1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).expect("fixture");
    assert_eq!(
        mxtls_world::openssl::hex(&mxtls_world::openssl::sha256(&bytes)),
        EVIDENCE_V1_SHA256,
        "evidence-v1.json is frozen: old snapshots must load as they are"
    );
    let evidence = Evidence::from_json(&String::from_utf8_lossy(&bytes)).expect("schema 1 loads");
    // Schema 1 named the TLS parameters; they load as code points.
    let tls = evidence.hosts[0].addresses[0].sessions[0]
        .tls
        .as_ref()
        .expect("a handshake");
    assert_eq!(
        (tls.version, tls.cipher_suite, tls.kx_group),
        (
            Some(mxtls_core::tls::TlsVersion::TLS13),
            Some(mxtls_core::tls::CipherSuite(0x1302)),
            Some(mxtls_core::tls::NamedGroup(0x001d))
        )
    );
    let r = analyse(&evidence, NOW);
    assert_eq!(
        r.mx[0].addresses[0].chains[0].tls_version.as_deref(),
        Some("TLSv1.3")
    );
    assert_eq!(r.mx.len(), 2);
    assert_eq!(r.mx[0].addresses[0].tls, Verdict::Untrusted);
    assert_eq!(r.mx[1].addresses[0].tls, Verdict::NoStarttls);
    let mut codes = codes(&r);
    codes.sort_unstable();
    assert_eq!(
        codes,
        [
            "mta-sts-missing",
            "starttls-stripped",
            "tlsa-mismatch",
            "tlsa-missing",
            "tlsa-partly-unusable",
            "tlsrpt-missing"
        ]
    );

    let presented = evidence.hosts[0].addresses[0].sessions[0]
        .tls
        .as_ref()
        .expect("a handshake")
        .chain[0]
        .0
        .clone();
    let pinned = &evidence.hosts[0].tlsa[0].records[0].rdata.0;
    assert_eq!(&pinned[..3], &[3, 1, 1], "the first record is 3 1 1");
    let presented_311 = openssl_3_1_1(&presented);
    assert_ne!(
        mxtls_world::openssl::hex(&pinned[3..]),
        presented_311,
        "the record really pins another key"
    );
    let fix = &finding(&r, Code::TlsaMismatch)
        .fix
        .as_ref()
        .expect("a fix")
        .records;
    assert_eq!(
        fix,
        &[format!(
            "_25._tcp.mx.example.org. IN TLSA 3 1 1 {presented_311}"
        )]
    );
}

/// Evidence survives a JSON round trip unchanged (snapshots are stored as JSON).
#[test]
fn evidence_round_trips_through_json() {
    let e = mismatch_and_cleartext().evidence();
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(Evidence::from_json(&json).unwrap(), e);
}
