//! The portfolio of the scale benchmark (`Options::portfolio`), small: every domain's MX and
//! every mail host's address and TLSA records resolve secure through the validating resolver
//! (`dig`), and every mail host offers STARTTLS with a certificate for its name that
//! OpenSSL verifies — against the world's root, and by DANE where TLSA is published. The
//! session log counts what each address saw.

use std::process::Command;
use std::time::Duration;

use mxtls_world::portfolio::Shape;
use mxtls_world::process::{output_with_input, output_within};
use mxtls_world::{Options, World};

const SHAPE: Shape = Shape {
    shared_domains: 60,
    shared_addresses: 3,
    own: 8,
};

/// `dig` through the world's resolver: (status, authenticated data, answer records).
fn dig(world: &World, name: &str, rtype: &str) -> (String, bool, Vec<String>) {
    let mut cmd = Command::new("dig");
    cmd.args([
        "+dnssec",
        "+time=3",
        "+tries=2",
        "+noall",
        "+comments",
        "+answer",
    ])
    .arg(format!("@{}", world.resolver.ip()))
    .args(["-p", &world.resolver.port().to_string(), name, rtype]);
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
    let answers = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter(|l| l.split_whitespace().nth(3) == Some(rtype))
        .map(|l| l.split_whitespace().skip(4).collect::<Vec<_>>().join(" "))
        .collect();
    (status, ad, answers)
}

/// OpenSSL's STARTTLS session with `host` at `ip`: verified against the world's root for
/// the name, and by DANE with `tlsa` where given. Its output.
fn s_client(world: &World, host: &str, ip: std::net::IpAddr, tlsa: &[String]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("{ip}:{}", world.smtp_port))
        .args([
            "-servername",
            host,
            "-verify_hostname",
            host,
            "-verify_return_error",
        ])
        .arg("-CAfile")
        .arg(&world.root_ca);
    if !tlsa.is_empty() {
        cmd.args(["-dane_tlsa_domain", host]);
        for record in tlsa {
            cmd.args(["-dane_tlsa_rrdata", record]);
        }
    }
    let out = output_with_input(&mut cmd, b"QUIT\n", Duration::from_secs(20)).expect("openssl");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portfolio_resolves_secure_and_its_hosts_speak_starttls() {
    let world = World::start(Options {
        net: 122,
        smtp_port: 2622,
        https_port: 4622,
        postfix: false,
        portfolio: Some(SHAPE),
        ..Options::default()
    })
    .await
    .expect("the world starts");
    let portfolio = world.portfolio.clone().expect("the portfolio");
    assert_eq!(portfolio.domains.len(), SHAPE.total());
    assert_eq!(portfolio.shared.len(), 3);
    assert_eq!(portfolio.own.len(), 8);
    // Shared hosts 1 and 3 (40 domains) and own hosts 1, 4, 5, 8 publish TLSA.
    assert_eq!(portfolio.dane_domains, 44);

    let since = std::time::Instant::now();
    let mut problems = Vec::new();
    for (domain, host) in [
        ("shop-1", "mx-1"),
        ("shop-2", "mx-2"),
        ("shop-60", "mx-3"),
        ("own-1", "mx.own-1"),
        ("own-8", "mx.own-8"),
    ] {
        let (status, ad, mx) = dig(&world, &format!("{domain}.portfolio.test"), "MX");
        let want = vec![format!("10 {host}.portfolio.test.")];
        if status != "NOERROR" || !ad || mx != want {
            problems.push(format!("{domain} MX: {status}, ad {ad}, {mx:?}"));
        }
    }
    let hosts = (1..=3)
        .map(|k| format!("mx-{k}"))
        .chain((1..=8).map(|i| format!("mx.own-{i}")));
    for (label, ip) in hosts.zip(portfolio.addresses()) {
        let host = format!("{label}.portfolio.test");
        let (status, ad, a) = dig(&world, &host, "A");
        if status != "NOERROR" || !ad || a != [ip.to_string()] {
            problems.push(format!("{host} A: {status}, ad {ad}, {a:?}, want {ip}"));
        }
        let (status, ad, tlsa) = dig(&world, &format!("_25._tcp.{host}"), "TLSA");
        let usage = tlsa.first().and_then(|r| r.split(' ').next()).unwrap_or("");
        let want = match label.as_str() {
            "mx-1" | "mx-3" | "mx.own-4" | "mx.own-8" => "3",
            "mx.own-1" | "mx.own-5" => "2",
            _ => "",
        };
        // No TLSA name at all is a (signed) NXDOMAIN.
        let denied = want.is_empty() && status == "NXDOMAIN";
        if (status != "NOERROR" && !denied) || !ad || usage != want {
            problems.push(format!(
                "{host} TLSA: {status}, ad {ad}, {tlsa:?}, want {want:?}"
            ));
        }
        // dig prints long hex in groups; OpenSSL takes it joined.
        let records: Vec<String> = tlsa
            .iter()
            .map(|r| {
                let f: Vec<&str> = r.split(' ').collect();
                format!("{} {} {} {}", f[0], f[1], f[2], f[3..].concat())
            })
            .collect();
        let seen = s_client(&world, &host, ip, &records);
        let verified = seen.contains("Verify return code: 0 (ok)")
            && seen.contains(&format!("Verified peername: {host}"));
        let dane = records.is_empty() || seen.contains("DANE TLSA");
        if !verified || !dane {
            problems.push(format!("{host} at {ip}: not verified:\n{seen}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // One OpenSSL session at each address, one at a time.
    let load = world.sessions.load(Duration::from_secs(60), since);
    assert_eq!(load.len(), 11, "{load:?}");
    assert!(
        load.iter()
            .all(|l| l.sessions == 1 && l.most_in_window == 1 && l.most_at_once <= 1),
        "{load:?}"
    );
    println!(
        "a world with {} portfolio domains started in {:.1} s",
        SHAPE.total(),
        world.started_in.as_secs_f64()
    );
    world.stop().await;
}
