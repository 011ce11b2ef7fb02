//! The bodies of the fuzz targets: every parser that reads network or user input, driven
//! the way the probe and the core drive it. Each takes arbitrary bytes and must neither
//! panic nor hang; cargo-fuzz (`fuzz/`, nightly) calls them with mutated input, and the
//! stable test `tests/replay.rs` runs every seed and every fixed crash through them on each
//! `scripts/test.sh`, so a regression is caught without nightly.
//!
//! Seeds come from the test world (`cargo run -p mxtls-fuzz-targets --example seeds --
//! fuzz/seeds`): what its servers really send, its DNS answers, certificates, policies and
//! whole evidence files.

use mxtls_core::evidence::{Bytes, Record, Reply};
use mxtls_core::names::{DnsName, RecordType};
use mxtls_core::{Evidence, UnixTime};
use mxtls_probe::smtp::{MAX_LINE, ReplyReader};

// Issue 21: the policy host's HTTP answer, the page's event stream, the report diff.
mod event_stream;
mod policy_http;
mod report_diff;
pub use event_stream::event_stream;
pub use policy_http::policy_http;
pub use report_diff::report_diff;
mod server;
pub use server::{atom_feed, forwarded, watch_target};
// Issue 26: what a sender says to the sender test's receivers, and a test's JSON.
mod sender_test;
pub use sender_test::{sender_dialogue, sender_test_json};
// Issue 27: a portfolio's JSON, as the portfolio page reads it.
mod portfolio;
pub use portfolio::portfolio_json;
// The core's DER reader against x509-parser (also the core's tests/x509_oracle.rs).
pub mod x509_oracle;

/// A target's body: arbitrary bytes in, no panic, no hang.
pub type Body = fn(&[u8]);

/// Every target: its name (the cargo-fuzz binary and the seed directory) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("smtp_reply", smtp_reply),
    ("ehlo", ehlo),
    ("dns_record", dns_record),
    ("dns_message", dns_message),
    ("certificate", certificate),
    ("server_hello", server_hello),
    ("mta_sts_txt", mta_sts_txt),
    ("mta_sts_policy", mta_sts_policy),
    ("tls_rpt_txt", tls_rpt_txt),
    ("tls_rpt_report", tls_rpt_report),
    ("evidence_json", evidence_json),
    ("user_domain", user_domain),
    // Issue 21 (bodies in their own modules).
    ("policy_http", policy_http),
    ("event_stream", event_stream),
    ("report_diff", report_diff),
    // The server's parsers (`server`).
    ("forwarded", forwarded),
    ("watch_target", watch_target),
    ("atom_feed", atom_feed),
    // The sender test (`sender_test`).
    ("sender_dialogue", sender_dialogue),
    ("sender_test_json", sender_test_json),
    // Portfolios (`portfolio`).
    ("portfolio_json", portfolio_json),
];

/// A fixed judgement time for targets that need one (the evidence's own is used where
/// there is evidence).
const NOW: UnixTime = UnixTime(1_790_000_000);

/// Splits input into lines as the probe's reader takes them: up to a newline, at most
/// `MAX_LINE + 1` bytes.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cap = rest.len().min(MAX_LINE + 1);
        let end = rest[..cap]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(cap, |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// What an SMTP server sends: replies read line by line (RFC 5321 §4.2), then judged as a
/// banner and an EHLO reply would be.
pub fn smtp_reply(data: &[u8]) {
    let mut reader = ReplyReader::default();
    let mut replies = Vec::new();
    for line in lines(data) {
        match reader.line(line) {
            Ok(Some(reply)) => {
                replies.push(reply);
                reader = ReplyReader::default();
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
    let _ = reader.closed();
    judge_replies(replies.first(), replies.get(1));
}

/// An EHLO reply's lines as any bytes (not only what the reader accepts): keywords,
/// STARTTLS, and the marks of a middlebox stripping it.
pub fn ehlo(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let reply = Reply {
        code: 250,
        lines: text.lines().map(str::to_owned).collect(),
    };
    judge_replies(None, Some(&reply));
    judge_replies(Some(&reply), Some(&reply));
}

fn judge_replies(banner: Option<&Reply>, ehlo: Option<&Reply>) {
    if let Some(e) = ehlo {
        let _ = mxtls_core::starttls::keywords(e);
        let _ = mxtls_core::starttls::offers_starttls(e);
    }
    let _ = mxtls_core::starttls::tampering(banner, ehlo);
}

/// The record types the core decodes; the first input byte picks one.
const TYPES: [RecordType; 9] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::MX,
    RecordType::CNAME,
    RecordType::TXT,
    RecordType::TLSA,
    RecordType::RRSIG,
    RecordType::DNSKEY,
    RecordType::DS,
];

/// One record's RDATA through the core's decoders (RFC 1035 §3.3, RFC 6698 §2.1, RFC 4034).
pub fn dns_record(data: &[u8]) {
    let Some((&kind, rdata)) = data.split_first() else {
        return;
    };
    let rtype = TYPES[usize::from(kind) % TYPES.len()];
    let record = Record {
        name: zone(),
        rtype,
        ttl: 300,
        rdata: Bytes(rdata.to_vec()),
    };
    decode(&record);
}

fn zone() -> DnsName {
    DnsName::parse("example.org").unwrap_or_else(|_| unreachable!("a valid name"))
}

fn decode(record: &Record) {
    if let Ok(hickory_proto::rr::RData::TLSA(tlsa)) = mxtls_core::dns::decode(record) {
        let tlsa = &tlsa;
        let _ = mxtls_core::tlsa::classify(tlsa);
        let _ = mxtls_core::tlsa::presentation(tlsa);
    }
    let rdata = record.rdata.as_ref();
    match record.rtype {
        RecordType::RRSIG => {
            let _ = mxtls_core::dnssec::rrsig(rdata, NOW);
        }
        RecordType::DNSKEY => {
            if let Some(key) = mxtls_core::dnssec::dnskey(rdata) {
                let _ = key.is_ksk();
                let _ = mxtls_core::dnssec::ds_record(&zone(), &key);
            }
            let _ = mxtls_core::dnssec::key_tag(rdata);
        }
        RecordType::DS => {
            let _ = mxtls_core::dnssec::ds(rdata);
        }
        _ => {}
    }
}

/// A whole DNS response as received (the evidence keeps it to read RRSIGs from): the core's
/// message reader, then each record through the decoders.
pub fn dns_message(data: &[u8]) {
    for record in mxtls_core::dnssec::message_records(data) {
        decode(&record);
    }
}

/// A certificate as a server presents it: the facts the report shows, name matching, the
/// TLSA data a record would hold, and PKIX validation as the end of a one-certificate chain;
/// where x509-parser reads it too, every fact as x509-parser reads it.
pub fn certificate(data: &[u8]) {
    x509_oracle::agree(data);
    let Ok(cert) = mxtls_core::cert::ParsedCert::parse(data) else {
        return;
    };
    let _ = cert.facts();
    let _ = cert.identities();
    let _ = cert.key_kind();
    let _ = cert.valid_at(NOW);
    if let Ok(name) = DnsName::parse("mx.example.org") {
        let _ = cert.matches_name(&name);
        let _ = mxtls_core::tlsa::spki_sha256_record(&name, 3, &cert);
    }
    let anchors = mxtls_core::pkix::anchor_from_cert(data)
        .into_iter()
        .collect::<Vec<_>>();
    let _ = mxtls_core::pkix::verify_chain(&[Bytes(data.to_vec())], &anchors, NOW);
}

/// The first bytes a server sends after STARTTLS, read for its ServerHello and as the whole
/// first flight of a posture session; the two readers must agree on the hello.
pub fn server_hello(data: &[u8]) {
    let hello = mxtls_core::tls::parse_server_hello(data);
    let flight = mxtls_core::tls::parse_first_flight(data);
    if let (Some(a), Some(b)) = (hello, flight.hello) {
        assert_eq!((a.version, a.cipher_suite), (b.version, b.cipher_suite));
    }
}

/// TXT strings: the input split at 0xff bytes (a byte no TXT record here contains).
fn txt_records(data: &[u8]) -> Vec<Vec<u8>> {
    data.split(|b| *b == 0xff).map(<[u8]>::to_vec).collect()
}

/// `_mta-sts` TXT records (RFC 8461 §3.1).
pub fn mta_sts_txt(data: &[u8]) {
    let _ = mxtls_core::mta_sts::parse_txt(&txt_records(data));
}

/// An MTA-STS policy body (RFC 8461 §3.2), and its `mx` patterns against a host.
pub fn mta_sts_policy(data: &[u8]) {
    if let Ok(policy) = mxtls_core::mta_sts::parse_policy(data)
        && let Ok(host) = DnsName::parse("mx1.mail.example.org")
    {
        for pattern in &policy.mx {
            let _ = mxtls_core::mta_sts::mx_matches(pattern, &host);
        }
    }
}

/// `_smtp._tls` TXT records (RFC 8460 §3).
pub fn tls_rpt_txt(data: &[u8]) {
    let _ = mxtls_core::tls_rpt::parse_txt(&txt_records(data));
}

/// A TLS-RPT aggregate report as a sender mails it (JSON or gzip), summarised and laid out
/// as `mxtls tls-rpt` prints it.
pub fn tls_rpt_report(data: &[u8]) {
    use mxtls_core::tls_rpt::report;
    if let Ok(r) = report::parse_bytes(data) {
        let reports = [r];
        let _ = report::summarise(&reports);
        let _ = mxtls_core::render::tls_rpt_text("example.org", &reports, &[], false);
    }
}

/// Evidence JSON (a snapshot, a shared link's payload, `mxtls analyse` input): loaded with
/// its migrations, judged, and rendered as the CLI and the badge render it.
pub fn evidence_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(evidence) = Evidence::from_json(text) else {
        return;
    };
    let report = mxtls_core::analyse(&evidence, evidence.probe.finished_at);
    let _ = mxtls_core::render::text(&report, false);
    let _ = mxtls_core::render::badge(Some(&report));
}

/// What a person types into the form or the command line.
pub fn user_domain(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = mxtls_core::names::parse_user_input(&text);
    if let Ok(name) = mxtls_core::names::parse_user_domain(&text) {
        let _ = mxtls_core::names::policy_url(&name);
        let _ = name.tlsa_owner(25);
    }
    let _ = mxtls_core::route::Route::parse(&text);
}
