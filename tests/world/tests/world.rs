//! The world behaves as SCENARIOS.md says: DNS through the validating resolver (checked with
//! `dig`, a real client), every SMTP scenario (checked with a small SMTP + rustls client), and
//! stopping leaves no process behind. One world per test binary: its daemons are children of
//! the test process.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use mxtls_core::evidence::KeyTypeOffer;
use mxtls_world::process::output_within;
use mxtls_world::scenarios::{self, Behaviour, Certs, Signing};
use mxtls_world::{Options, World};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const BANNER_DELAY: Duration = Duration::from_millis(1500);

/// `dig` through the world's resolver: (status, authenticated-data flag).
fn dig(world: &World, name: &str, rtype: &str) -> (String, bool) {
    let mut cmd = Command::new("dig");
    cmd.args([
        "+dnssec",
        "+time=3",
        "+tries=2",
        "-p",
        &world.resolver.port().to_string(),
    ])
    .arg(format!("@{}", world.resolver.ip()))
    .args([name, rtype]);
    let out = output_within(&mut cmd, Duration::from_secs(20)).expect("dig runs (bind9-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("none")
        .to_owned();
    let ad = text.lines().any(|l| {
        l.starts_with(";; flags:") && l.split(';').nth(2).is_some_and(|f| f.contains(" ad"))
    });
    (status, ad)
}

/// What one SMTP conversation showed.
#[derive(Debug, Default)]
struct Seen {
    banner: Option<String>,
    banner_after: Duration,
    ehlo: Vec<String>,
    starttls: Option<String>,
    chain: Vec<Vec<u8>>,
    handshake_error: Option<String>,
}

async fn reply<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        match tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return lines,
        }
        let done = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line.trim_end().to_owned());
        if done {
            return lines;
        }
    }
}

async fn send<S: AsyncWrite + Unpin>(w: &mut S, line: &str) {
    let _ = w.write_all(format!("{line}\r\n").as_bytes()).await;
}

/// One conversation in the test's own SMTP (independent of the probe's), with the probe's
/// TLS client: it accepts any chain and offers the signature schemes of `offer`.
async fn converse(addr: SocketAddr, offer: KeyTypeOffer) -> Seen {
    let mut seen = Seen::default();
    let start = Instant::now();
    let Ok(stream) = TcpStream::connect(addr).await else {
        return seen;
    };
    let mut io = BufReader::new(stream);
    seen.banner = reply(&mut io).await.first().cloned();
    seen.banner_after = start.elapsed();
    send(io.get_mut(), "EHLO probe.mxtls.test").await;
    seen.ehlo = reply(&mut io).await;
    if !seen.ehlo.iter().any(|l| l.ends_with("STARTTLS")) {
        return seen;
    }
    send(io.get_mut(), "STARTTLS").await;
    seen.starttls = reply(&mut io).await.first().cloned();
    if !seen
        .starttls
        .as_deref()
        .is_some_and(|r| r.starts_with("220"))
    {
        return seen;
    }
    let config = mxtls_probe::tls::client_config(offer).expect("the probe's TLS client");
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = ServerName::try_from("mx.test").expect("name");
    match tokio::time::timeout(
        Duration::from_secs(10),
        connector.connect(name, io.into_inner()),
    )
    .await
    {
        Ok(Ok(tls)) => {
            let (_, conn) = tls.get_ref();
            seen.chain = conn
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .map(|c| c.to_vec())
                .collect();
        }
        Ok(Err(e)) => seen.handshake_error = Some(e.to_string()),
        Err(_) => seen.handshake_error = Some("timeout".into()),
    }
    seen
}

/// The end entity's key algorithm OID bytes appear in its SPKI: a cheap key-type probe.
fn is_rsa(cert: &[u8]) -> bool {
    const RSA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    cert.windows(RSA_OID.len()).any(|w| w == RSA_OID)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_behaves_as_documented() {
    let options = Options {
        net: 54,
        banner_delay: BANNER_DELAY,
        ..Options::default()
    };
    let world = World::start(options).await.expect("the world starts");
    let dir = world.dir.clone();
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };

    // DNS: validated where signed, SERVFAIL where bogus, unvalidated where unsigned.
    for s in &world.scenarios {
        let (status, ad) = dig(&world, &s.domain, "MX");
        match s.scenario.signing {
            Signing::Signed
            | Signing::BogusTlsa
            | Signing::BogusA
            | Signing::Rsa
            | Signing::P384
            | Signing::Sha1
            | Signing::Sha1Ds
            | Signing::ManyIterations
            | Signing::Expiring => check(
                status == "NOERROR" && ad,
                format!("{}: MX should validate, got {status} ad={ad}", s.domain),
            ),
            Signing::Unsigned => check(
                status == "NOERROR" && !ad,
                format!("{}: MX should be insecure, got {status} ad={ad}", s.domain),
            ),
            Signing::BadDs | Signing::BogusMx | Signing::Expired => check(
                status == "SERVFAIL",
                format!("{}: MX should be SERVFAIL, got {status}", s.domain),
            ),
        }
    }
    let (status, _) = dig(&world, "mx.bogus-a.test", "A");
    check(
        status == "SERVFAIL",
        format!("the bogus A should be SERVFAIL, got {status}"),
    );
    let (status, _) = dig(&world, "_25._tcp.mx.bogus-tlsa.test", "TLSA");
    check(
        status == "SERVFAIL",
        format!("bogus TLSA should be SERVFAIL, got {status}"),
    );
    let (status, ad) = dig(&world, "_25._tcp.mx.dane-ee.test", "TLSA");
    check(
        status == "NOERROR" && ad,
        format!("dane-ee TLSA should validate, got {status} ad={ad}"),
    );
    let (status, ad) = dig(&world, "_25._tcp.mx.no-starttls.test", "TLSA");
    check(
        status == "NXDOMAIN" && ad,
        format!("no TLSA should be a secure NXDOMAIN, got {status} ad={ad}"),
    );
    let (status, ad) = dig(&world, "_25._tcp.mx.tlsa-wildcard.test", "TLSA");
    check(
        status == "NOERROR" && ad,
        format!("the wildcard TLSA should answer and validate, got {status} ad={ad}"),
    );
    // The algorithm scenarios are signed with the algorithm they name.
    for (zone, alg) in [
        ("alg-rsa.test", "8"),
        ("alg-p384.test", "14"),
        ("alg-sha1.test", "7"),
    ] {
        let mut cmd = Command::new("dig");
        cmd.args(["+short", "+time=3", "+tries=2", "-p"])
            .arg(world.resolver.port().to_string())
            .arg(format!("@{}", world.resolver.ip()))
            .args([zone, "DNSKEY"]);
        let out = output_within(&mut cmd, Duration::from_secs(20)).expect("dig");
        let text = String::from_utf8_lossy(&out.stdout);
        check(
            !text.is_empty()
                && text
                    .lines()
                    .all(|l| l.split_whitespace().nth(2) == Some(alg)),
            format!("{zone}: DNSKEY algorithm {alg}, got {text}"),
        );
    }
    // The hygiene scenarios, as an independent resolver sees them: a SHA-1-only DS, and
    // NSEC3 denials Unbound will not compute (insecure, no AD) while the MX validates.
    let dig_text = |args: &[&str]| {
        let mut cmd = Command::new("dig");
        cmd.args(["+time=3", "+tries=2", "-p"])
            .arg(world.resolver.port().to_string())
            .arg(format!("@{}", world.resolver.ip()))
            .args(args);
        let out = output_within(&mut cmd, Duration::from_secs(20)).expect("dig");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ds = dig_text(&["+short", "ds-sha1.test", "DS"]);
    check(
        !ds.is_empty() && ds.lines().all(|l| l.split_whitespace().nth(2) == Some("1")),
        format!("ds-sha1.test: only SHA-1 DS records, got {ds}"),
    );
    let (status, ad) = dig(&world, "_mta-sts.nsec3-iterations.test", "TXT");
    check(
        status == "NXDOMAIN" && !ad,
        format!("200 NSEC3 iterations: an insecure NXDOMAIN, got {status} ad={ad}"),
    );
    let denial = dig_text(&["+dnssec", "_mta-sts.nsec3-iterations.test", "TXT"]);
    check(
        denial.contains("NSEC3\t1 0 200 A1B2C3D4") || denial.contains("NSEC3 1 0 200 A1B2C3D4"),
        format!("the denial carries NSEC3 with 200 iterations:\n{denial}"),
    );

    // delv (BIND's validator, an oracle beside Unbound and hickory): SHA-1 algorithms and a
    // SHA-1-only DS still validate on Debian; denials with 200 NSEC3 iterations are unsigned.
    let anchors = world.dir.join("delv-anchors.conf");
    let ds = std::fs::read_to_string(&world.trust_anchor).expect("the root DS");
    let fields: Vec<&str> = ds.split_whitespace().collect();
    std::fs::write(
        &anchors,
        format!(
            "trust-anchors {{ . static-ds {} {} {} \"{}\"; }};\n",
            fields[3], fields[4], fields[5], fields[6]
        ),
    )
    .expect("delv's anchors");
    let delv = |name: &str, rtype: &str| {
        let mut cmd = Command::new("delv");
        cmd.arg(format!("@{}", world.resolver.ip()))
            .arg("-a")
            .arg(&anchors)
            .args(["+root=.", name, rtype]);
        let out = output_within(&mut cmd, Duration::from_secs(30)).expect("delv");
        // delv writes its verdict on stderr, the records on stdout.
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )
    };
    for zone in ["alg-sha1.test", "ds-sha1.test", "nsec3-iterations.test"] {
        let said = delv(zone, "MX");
        check(
            said.contains("; fully validated"),
            format!("delv: {zone} MX validates:\n{said}"),
        );
    }
    let said = delv("_mta-sts.nsec3-iterations.test", "TXT");
    check(
        said.contains("negative response, unsigned answer"),
        format!("delv: 200 iterations make the denial unsigned:\n{said}"),
    );

    // The second name servers, asked directly (dig +norec): the stale one serves serial 1
    // and no TLSA where the primary serves serial 2 and the record; the silent one answers
    // nothing.
    let at = |last: u8| {
        let [a, b, c, _] = match world.resolver.ip() {
            std::net::IpAddr::V4(v4) => v4.octets(),
            std::net::IpAddr::V6(_) => [0; 4],
        };
        format!("@{a}.{b}.{c}.{last}")
    };
    let norec = |server: &str, name: &str, rtype: &str| {
        let mut cmd = Command::new("dig");
        cmd.args(["+norec", "+time=1", "+tries=1", server, name, rtype]);
        let out = output_within(&mut cmd, Duration::from_secs(20)).expect("dig");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let serial = |text: &str| {
        text.lines()
            .find(|l| !l.starts_with(';') && l.contains("\tSOA\t"))
            .and_then(|l| l.split_whitespace().nth(6).map(str::to_owned))
    };
    let primary = at(2);
    let stale = at(mxtls_world::scenarios::STALE_NS);
    check(
        serial(&norec(&primary, "ns-stale.test", "SOA")).as_deref() == Some("2")
            && serial(&norec(&stale, "ns-stale.test", "SOA")).as_deref() == Some("1"),
        "ns-stale: serial 2 on the primary, 1 on the stale secondary".into(),
    );
    let tlsa = "_25._tcp.mx.ns-stale.test";
    let (on_primary, on_stale) = (norec(&primary, tlsa, "TLSA"), norec(&stale, tlsa, "TLSA"));
    check(
        on_primary.contains("status: NOERROR")
            && on_primary.contains("\tTLSA\t3 1 1")
            && on_stale.contains("status: NXDOMAIN")
            && on_stale.contains("flags: qr aa"),
        format!("ns-stale TLSA: primary\n{on_primary}\nstale\n{on_stale}"),
    );
    let silent = norec(
        &at(mxtls_world::scenarios::SILENT_NS),
        "ns-silent.test",
        "SOA",
    );
    check(
        silent.contains("timed out") || silent.contains("no servers could be reached"),
        format!("the silent name server answers nothing:\n{silent}"),
    );

    // The big TLSA RRset does not fit a 1232-byte UDP answer: truncated, so TCP is needed.
    let mut cmd = Command::new("dig");
    cmd.args([
        "+dnssec",
        "+ignore",
        "+bufsize=1232",
        "+time=3",
        "+tries=1",
        "-p",
    ])
    .arg(world.resolver.port().to_string())
    .arg(format!("@{}", world.resolver.ip()))
    .args(["_25._tcp.mx.tlsa-many.test", "TLSA"]);
    let out = output_within(&mut cmd, Duration::from_secs(20)).expect("dig");
    let text = String::from_utf8_lossy(&out.stdout);
    check(
        text.lines()
            .any(|l| l.starts_with(";; flags:") && l.contains(" tc")),
        format!("the tlsa-many answer should be truncated over UDP:\n{text}"),
    );
    let (status, ad) = dig(&world, "mx.mx-cname.test", "A");
    check(
        status == "NOERROR" && ad,
        format!("the MX alias should validate, got {status} ad={ad}"),
    );

    // SMTP: each behaviour as documented.
    for s in &world.scenarios {
        for (host, (name, addrs)) in s.scenario.hosts.iter().zip(&s.hosts) {
            for ip in addrs {
                let addr = SocketAddr::new(*ip, world.smtp_port);
                let seen = converse(addr, KeyTypeOffer::Any).await;
                let tag = format!("{} {name} [{ip}]", s.domain);
                let starttls = seen.ehlo.iter().any(|l| l.ends_with("STARTTLS"));
                match host.behaviour {
                    Behaviour::Silent => check(
                        seen.banner.is_none(),
                        format!("{tag}: nothing should listen"),
                    ),
                    Behaviour::NoStarttls => check(
                        seen.banner.is_some() && !starttls && !seen.ehlo.is_empty(),
                        format!("{tag}: EHLO without STARTTLS, got {:?}", seen.ehlo),
                    ),
                    Behaviour::Mangled => check(
                        seen.ehlo.iter().any(|l| l.ends_with("XXXXXXXA")),
                        format!("{tag}: mangled keyword, got {:?}", seen.ehlo),
                    ),
                    Behaviour::Starttls454 => check(
                        seen.starttls
                            .as_deref()
                            .is_some_and(|r| r.starts_with("454")),
                        format!("{tag}: 454, got {:?}", seen.starttls),
                    ),
                    Behaviour::BrokenHandshake => check(
                        seen.handshake_error.is_some() && seen.chain.is_empty(),
                        format!("{tag}: handshake must fail, got {:?}", seen.handshake_error),
                    ),
                    Behaviour::Busy421 => check(
                        seen.banner.as_deref().is_some_and(|b| b.starts_with("421"))
                            && seen.ehlo.is_empty(),
                        format!("{tag}: a 421 greeting, got {:?}", seen.banner),
                    ),
                    // A TLS 1.2+ client refuses the server's TLS 1.0 ServerHello.
                    Behaviour::Tls10Only => check(
                        seen.chain.is_empty()
                            && seen.handshake_error.as_deref().is_some_and(|e| {
                                e.contains("incompatible") || e.contains("version")
                            }),
                        format!("{tag}: TLS 1.0 only, got {:?}", seen.handshake_error),
                    ),
                    Behaviour::Delayed(ms) => check(
                        seen.banner_after >= Duration::from_millis(ms) && seen.chain.len() == 2,
                        format!("{tag}: banner after {:?}", seen.banner_after),
                    ),
                    Behaviour::SlowBanner => check(
                        seen.banner_after >= BANNER_DELAY && seen.chain.len() == 2,
                        format!("{tag}: banner after {:?}", seen.banner_after),
                    ),
                    Behaviour::Postfix | Behaviour::PostfixWith(_) => check(
                        seen.banner
                            .as_deref()
                            .is_some_and(|b| b.contains("Postfix"))
                            && !seen.chain.is_empty(),
                        format!(
                            "{tag}: Postfix with STARTTLS, got {:?} chain {}",
                            seen.banner,
                            seen.chain.len()
                        ),
                    ),
                    // The probe's hello is small and classical: these serve it like any server
                    // (the posture tests ask them the rest).
                    Behaviour::Normal | Behaviour::PostQuantum | Behaviour::DropsLargeHello => {
                        let want = if host.certs == Certs::LeafOnly { 1 } else { 2 };
                        check(
                            seen.chain.len() == want,
                            format!(
                                "{tag}: chain of {want}, got {} ({:?})",
                                seen.chain.len(),
                                seen.handshake_error
                            ),
                        );
                    }
                }
                if host.certs == Certs::Dual {
                    check(
                        seen.chain.first().is_some_and(|c| !is_rsa(c)),
                        format!("{tag}: ECDSA first"),
                    );
                    let rsa = converse(addr, KeyTypeOffer::Rsa).await;
                    check(
                        rsa.chain.first().is_some_and(|c| is_rsa(c)),
                        format!("{tag}: RSA when only RSA is offered"),
                    );
                }
            }
        }
    }

    // Mail is never accepted, even by Postfix.
    if let Some(p) = world.scenario("postfix") {
        let addr = SocketAddr::new(p.hosts[0].1[0], world.smtp_port);
        let stream = TcpStream::connect(addr).await.expect("postfix");
        let mut io = BufReader::new(stream);
        reply(&mut io).await;
        send(io.get_mut(), "EHLO probe.mxtls.test").await;
        reply(&mut io).await;
        send(io.get_mut(), "MAIL FROM:<a@probe.mxtls.test>").await;
        reply(&mut io).await;
        send(io.get_mut(), "RCPT TO:<someone@example.com>").await;
        let rcpt = reply(&mut io).await;
        check(
            rcpt.first()
                .is_some_and(|l| l.starts_with('5') || l.starts_with('4')),
            format!("Postfix must refuse recipients, got {rcpt:?}"),
        );
    }

    let logs = world.logs();
    let net = format!(
        "127.{}.",
        world
            .resolver
            .ip()
            .to_string()
            .split('.')
            .nth(1)
            .unwrap_or("0")
    );
    world.stop().await;
    // Nothing may still listen on the world's addresses (a detached Postfix master would).
    let sockets = output_within(Command::new("ss").args(["-ltnuH"]), Duration::from_secs(10))
        .expect("ss (iproute2)");
    let listening: Vec<String> = String::from_utf8_lossy(&sockets.stdout)
        .lines()
        .filter(|l| l.contains(&net))
        .map(str::to_owned)
        .collect();
    check(
        listening.is_empty(),
        format!("still listening after stop: {listening:?}"),
    );
    let left = output_within(
        Command::new("pgrep")
            .arg("-f")
            .arg(dir.to_string_lossy().as_ref()),
        Duration::from_secs(10),
    )
    .expect("pgrep");
    check(
        left.stdout.is_empty(),
        format!(
            "processes left behind: {}",
            String::from_utf8_lossy(&left.stdout)
        ),
    );
    check(!dir.exists(), "the world's files were not removed".into());
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}\n{logs}",
        failures.len(),
        failures.join("\n")
    );
}

/// SCENARIOS.md holds exactly the scenario table (`mxtls-world --markdown`), so that what a
/// person reads is what the tests check.
#[test]
fn scenarios_md_is_the_scenario_table() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SCENARIOS.md"))
        .expect("SCENARIOS.md");
    let table = scenarios::markdown();
    let start = doc
        .find(scenarios::TABLE_BEGIN)
        .expect("SCENARIOS.md has the table's begin marker");
    let end = doc
        .find(scenarios::TABLE_END)
        .expect("SCENARIOS.md has the table's end marker")
        + scenarios::TABLE_END.len()
        + 1;
    assert!(
        doc[start..end.min(doc.len())] == table,
        "SCENARIOS.md differs from the scenario table; regenerate it with \
         `cargo run -p mxtls-world -- --markdown` and paste it between the markers"
    );
}
