//! Writes the fuzz targets' seed corpus from the test world: starts it, checks every
//! scenario with the real probe, and files what was received under the target that parses
//! it — server replies, EHLO replies, DNS records and whole responses, certificates, the
//! bytes a server answers a ClientHello with, MTA-STS and TLS-RPT records, policy bodies,
//! evidence files, and the ways a person types a domain; from those, the policy hosts'
//! HTTP answers, the check stream as the server frames it, and pairs of evidence files.
//!
//! `cargo run -p mxtls-fuzz-targets --example seeds -- fuzz/seeds` (as root: the world
//! starts Postfix). `... -- fuzz/seeds --from-seeds` starts no world: it derives what it can
//! from the evidence files and policy bodies already in the corpus (for a new target). Files
//! are named by their content's hash, so a rerun adds only what is new.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mxtls_core::Evidence;
use mxtls_core::api::{ApiError, CheckAnswer, StreamEvent};
use mxtls_core::evidence::{DnsAnswer, KeyTypeOffer, Party};
use mxtls_core::names::RecordType;
use mxtls_core::progress::Event;
use mxtls_world::{Options, World};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The record types in the order of `dns_record`'s selector byte.
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

/// Whole evidence files kept (they are large): a spread of outcomes.
const EVIDENCE_OF: &[&str] = &[
    "dane-ee.test",
    "tlsa-mismatch.test",
    "bogus-mx.test",
    "split-keys.test",
    "sts-enforce.test",
    "busy-421.test",
    "two-mx.test",
    "postfix.test",
];

#[derive(Default)]
struct Corpus(BTreeMap<&'static str, Vec<Vec<u8>>>);

impl Corpus {
    fn add(&mut self, target: &'static str, bytes: Vec<u8>) {
        let seeds = self.0.entry(target).or_default();
        if !bytes.is_empty() && !seeds.contains(&bytes) {
            seeds.push(bytes);
        }
    }

    fn answer(&mut self, answer: &DnsAnswer) {
        for record in &answer.records {
            if let Some(i) = TYPES.iter().position(|t| *t == record.rtype) {
                let mut seed = vec![i as u8];
                seed.extend_from_slice(record.rdata.as_ref());
                self.add("dns_record", seed);
            }
        }
        if let Some(wire) = &answer.wire {
            self.add("dns_message", wire.as_ref().to_vec());
            for record in mxtls_core::dnssec::message_records(wire.as_ref()) {
                if let Some(i) = TYPES.iter().position(|t| *t == record.rtype) {
                    let mut seed = vec![i as u8];
                    seed.extend_from_slice(record.rdata.as_ref());
                    self.add("dns_record", seed);
                }
            }
        }
    }

    fn txt(&mut self, target: &'static str, answer: Option<&DnsAnswer>) {
        if let Some(a) = answer {
            let strings = mxtls_core::dns::txt_strings(a);
            if !strings.is_empty() {
                self.add(target, strings.join(&0xff_u8));
            }
        }
    }

    fn evidence(&mut self, e: &Evidence) {
        self.answer(&e.mx);
        for a in e
            .dnssec_chain
            .iter()
            .chain(&e.tls_rpt)
            .chain(&e.mta_sts.txt)
        {
            self.answer(a);
        }
        self.txt("mta_sts_txt", e.mta_sts.txt.as_ref());
        self.txt("tls_rpt_txt", e.tls_rpt.as_ref());
        if let Some(policy) = &e.mta_sts.policy {
            if let Some(body) = &policy.body {
                self.add("mta_sts_policy", body.as_ref().to_vec());
                self.policy_answers(body.as_ref());
            }
            if let Some(status) = policy.status.filter(|s| *s != 200) {
                let location = policy
                    .location
                    .as_deref()
                    .map(|l| format!("Location: {l}\r\n"))
                    .unwrap_or_default();
                self.add(
                    "policy_http",
                    http(
                        format!(
                            "HTTP/1.1 {status} Not a policy\r\n{location}Content-Length: 0\r\n\r\n"
                        )
                        .into_bytes(),
                    ),
                );
            }
            for c in policy.tls.iter().flat_map(|t| &t.chain) {
                self.add("certificate", c.as_ref().to_vec());
            }
        }
        for host in &e.hosts {
            for a in host.a.iter().chain(&host.aaaa).chain(&host.tlsa) {
                self.answer(a);
            }
            for session in host.addresses.iter().flat_map(|a| &a.sessions) {
                let sent: Vec<u8> = session
                    .transcript
                    .iter()
                    .filter(|l| l.from == Party::Server)
                    .flat_map(|l| format!("{}\r\n", l.text).into_bytes())
                    .collect();
                self.add("smtp_reply", sent);
                if let Some(ehlo) = &session.ehlo {
                    self.add("ehlo", ehlo.lines.join("\n").into_bytes());
                }
                for c in session.tls.iter().flat_map(|t| &t.chain) {
                    self.add("certificate", c.as_ref().to_vec());
                }
            }
        }
        let domain = e.domain.to_string();
        for typed in [
            domain.clone(),
            format!("postmaster@{domain}"),
            format!("https://{}/path?q=1", domain.to_uppercase()),
            format!(" {domain}. "),
        ] {
            self.add("user_domain", typed.into_bytes());
        }
        self.stream(e);
    }

    /// The ways a policy host sends `body`: with a Content-Length, chunked (with an extension
    /// and a trailer), delimited by the close, and as HTTP/1.0.
    fn policy_answers(&mut self, body: &[u8]) {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
        let mut sized = format!("{head}Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        sized.extend_from_slice(body);
        self.add("policy_http", http(sized));
        let mut chunked = format!("{head}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
        for (i, piece) in body.chunks(37).enumerate() {
            let ext = if i == 0 { ";name=value" } else { "" };
            chunked.extend_from_slice(format!("{:x}{ext}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
        self.add("policy_http", http(chunked));
        let mut closed = format!("{head}\r\n").into_bytes();
        closed.extend_from_slice(body);
        self.add("policy_http", http(closed));
        let mut old = b"HTTP/1.0 200 OK\nContent-Type: text/plain\n\n".to_vec();
        old.extend_from_slice(body);
        self.add("policy_http", http(old));
    }

    /// The check stream the server sends for `e`: the lookups' progress, then the evidence
    /// (and, alone, an error), framed as `mxtls serve` frames events.
    fn stream(&mut self, e: &Evidence) {
        let lookups = std::iter::once(&e.mx)
            .chain(&e.mta_sts.txt)
            .chain(&e.tls_rpt)
            .chain(
                e.hosts
                    .iter()
                    .flat_map(|h| h.a.iter().chain(&h.aaaa).chain(&h.tlsa)),
            );
        let mut progress = String::new();
        for a in lookups {
            for event in [
                Event::LookupStarted {
                    qname: a.qname.clone(),
                    qtype: a.qtype,
                },
                Event::LookupDone {
                    qname: a.qname.clone(),
                    qtype: a.qtype,
                    outcome: a.outcome.clone(),
                    dnssec: a.dnssec.clone(),
                },
            ] {
                progress.push_str(&sse(&StreamEvent::Progress(event)));
            }
        }
        let error = sse(&StreamEvent::Error(ApiError {
            error: "the check was cancelled".into(),
        }));
        self.add(
            "event_stream",
            format!(": keep-alive\n\n{progress}{error}").into_bytes(),
        );
        self.add("event_stream", progress.replace('\n', "\r\n").into_bytes());
        let answer = StreamEvent::Evidence(Box::new(CheckAnswer {
            snapshot: "0123456789abcdef".into(),
            evidence: e.clone(),
            reused: false,
        }));
        self.add(
            "event_stream",
            format!("{progress}{}", sse(&answer)).into_bytes(),
        );
    }

    fn write(&self, dir: &Path) -> std::io::Result<usize> {
        let mut written = 0;
        for (target, seeds) in &self.0 {
            let d = dir.join(target);
            std::fs::create_dir_all(&d)?;
            for seed in seeds {
                let hash = Sha256::digest(seed);
                let name: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
                let path = d.join(name);
                if !path.exists() {
                    std::fs::write(path, seed)?;
                    written += 1;
                }
            }
        }
        Ok(written)
    }
}

/// A `policy_http` seed: the server writes it whole (the first byte is the write size).
fn http(answer: Vec<u8>) -> Vec<u8> {
    let mut seed = vec![0xff];
    seed.extend(answer);
    seed
}

/// One event as `text/event-stream` (the server's framing: `event`, one `data` line).
fn sse(event: &StreamEvent) -> String {
    format!(
        "event: {}\ndata: {}\n\n",
        event.name().as_str(),
        event.data()
    )
}

/// Pairs of evidence files for `report_diff` (before 0xff after), each with the next.
fn evidence_pairs(corpus: &mut Corpus, files: &[Vec<u8>]) {
    for (before, after) in files.iter().zip(files.iter().cycle().skip(1)) {
        let mut seed = before.clone();
        seed.push(0xff);
        seed.extend_from_slice(after);
        corpus.add("report_diff", seed);
    }
}

/// `--from-seeds`: what can be derived without the world, from the evidence files and the
/// policy bodies already in `dir`.
fn from_seeds(dir: &Path) -> Corpus {
    let read = |target: &str| -> Vec<Vec<u8>> {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(target))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
    };
    let mut corpus = Corpus::default();
    let evidence = read("evidence_json");
    for json in &evidence {
        if let Some(e) = std::str::from_utf8(json)
            .ok()
            .and_then(|t| Evidence::from_json(t).ok())
        {
            corpus.evidence(&e);
        }
    }
    evidence_pairs(&mut corpus, &evidence);
    for body in read("mta_sts_policy") {
        corpus.policy_answers(&body);
    }
    corpus
}

/// What a server sends in answer to our ClientHello after STARTTLS (the ServerHello and
/// more, or an alert): the bytes the probe's ServerHello reader is given.
async fn server_hello(ip: std::net::IpAddr, port: u16, host: &str) -> Option<Vec<u8>> {
    let mut s = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut read_reply = async |s: &mut tokio::net::TcpStream| -> Option<()> {
        let mut seen = Vec::new();
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            if text.lines().any(|l| l.len() >= 4 && &l[3..4] == " ") {
                return Some(());
            }
        }
    };
    read_reply(&mut s).await?;
    s.write_all(b"EHLO seeds.invalid\r\n").await.ok()?;
    read_reply(&mut s).await?;
    s.write_all(b"STARTTLS\r\n").await.ok()?;
    read_reply(&mut s).await?;
    let config = mxtls_probe::tls::client_config(KeyTypeOffer::Any).ok()?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).ok()?;
    let mut tls = rustls::ClientConnection::new(config, name).ok()?;
    let mut hello = Vec::new();
    tls.write_tls(&mut hello).ok()?;
    s.write_all(&hello).await.ok()?;
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    while answer.len() < 16 * 1024 {
        match tokio::time::timeout(Duration::from_secs(2), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    Some(answer)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: seeds DIR");
        return std::process::ExitCode::from(2);
    };
    if std::env::args().nth(2).as_deref() == Some("--from-seeds") {
        return write(&from_seeds(&dir), &dir);
    }
    let world = match World::start(Options {
        net: 74,
        smtp_port: 2574,
        https_port: 4474,
        banner_delay: Duration::from_millis(200),
        ..Options::default()
    })
    .await
    {
        Ok(w) => w,
        Err(e) => {
            eprintln!("seeds: the test world does not start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let config = mxtls_probe::Config {
        resolver: Some(world.resolver),
        trust_anchor: Some(world.trust_anchor.clone()),
        allow_private_targets: true,
        smtp_port: world.smtp_port,
        https_port: world.https_port,
        extra_pkix_roots: vec![world.root_ca_der.clone()],
        ..mxtls_probe::Config::default()
    };
    let mut corpus = Corpus::default();
    let mut evidence_files = Vec::new();
    for s in &world.scenarios {
        let Ok(domain) = mxtls_core::names::DnsName::parse(&s.domain) else {
            continue;
        };
        let Ok(e) = mxtls_probe::check(&domain, &config, None).await else {
            continue;
        };
        corpus.evidence(&e);
        if EVIDENCE_OF.contains(&s.domain.as_str())
            && let Ok(json) = serde_json::to_vec(&e)
        {
            corpus.add("evidence_json", json.clone());
            evidence_files.push(json);
        }
        for host in &e.hosts {
            if let Some(address) = host.addresses.first()
                && let Some(bytes) =
                    server_hello(address.ip, world.smtp_port, host.name.as_str()).await
            {
                corpus.add("server_hello", bytes);
            }
        }
    }
    world.stop().await;
    evidence_pairs(&mut corpus, &evidence_files);
    write(&corpus, &dir)
}

fn write(corpus: &Corpus, dir: &Path) -> std::process::ExitCode {
    match corpus.write(dir) {
        Ok(n) => {
            for (target, seeds) in &corpus.0 {
                println!("{target:16} {} seeds", seeds.len());
            }
            println!("{n} new files in {}", dir.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("seeds: cannot write {}: {e}", dir.display());
            std::process::ExitCode::FAILURE
        }
    }
}
