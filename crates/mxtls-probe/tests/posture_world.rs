//! The posture sessions against the test world's real Postfix, configured as Debian ships
//! it (`smtpd_tls_security_level = may`, nothing else about TLS): what `openssl s_client
//! -starttls smtp` can negotiate with it is the oracle for versions and suite classes.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use mxtls_core::posture::{MAX_SESSIONS, PostQuantum, judge};
use mxtls_core::tls::{SuiteClass, TlsVersion};
use mxtls_world::{Options, World};

/// `openssl s_client -starttls smtp` completes a handshake with these options.
fn openssl_negotiates(addr: SocketAddr, options: &[&str]) -> bool {
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(addr.to_string())
        .args(options)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client runs");
    out.status.success()
        && String::from_utf8_lossy(&out.stdout).contains("Cipher is ")
        && !String::from_utf8_lossy(&out.stdout).contains("Cipher is (NONE)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debian_postfix_posture_agrees_with_openssl() {
    let world = World::start(Options {
        net: 104,
        smtp_port: 2604,
        postfix: true,
        ..Options::default()
    })
    .await
    .expect("world");
    let running = world
        .scenarios
        .iter()
        .find(|s| s.scenario.name == "postfix")
        .expect("the postfix scenario");
    let config = mxtls_probe::Config {
        resolver: Some(world.resolver),
        trust_anchor: Some(world.trust_anchor.clone()),
        allow_private_targets: true,
        smtp_port: world.smtp_port,
        https_port: world.https_port,
        extra_pkix_roots: vec![world.root_ca_der.clone()],
        timeout: Duration::from_secs(30),
        posture: mxtls_probe::PostureConfig {
            ask: true,
            ..Default::default()
        },
        ..mxtls_probe::Config::default()
    };
    let domain = mxtls_core::names::parse_user_domain(&running.domain).expect("a domain");
    let evidence = mxtls_probe::check(&domain, &config, None)
        .await
        .expect("a check");
    let address = &evidence.hosts[0].addresses[0];
    let posture_evidence = address.posture.as_ref().expect("posture sessions");
    let main = address.sessions.first().and_then(|s| s.tls.as_ref());
    let posture = judge(posture_evidence, main);
    println!("{posture:?}");
    let addr = SocketAddr::new(address.ip, world.smtp_port);

    let oracle = |options: &[&str]| openssl_negotiates(addr, options);
    let mut expected = Vec::new();
    for (version, flag) in [
        (TlsVersion::TLS10, "-tls1"),
        (TlsVersion::TLS11, "-tls1_1"),
        (TlsVersion::TLS12, "-tls1_2"),
        (TlsVersion::TLS13, "-tls1_3"),
    ] {
        if oracle(&[flag, "-cipher", "ALL:@SECLEVEL=0"]) {
            expected.push(version);
        }
    }
    assert_eq!(posture.versions, expected, "{posture:?}");
    let anonymous = oracle(&["-no_tls1_3", "-cipher", "aNULL:@SECLEVEL=0"]);
    assert_eq!(
        posture
            .weak_suites
            .iter()
            .any(|s| s.class() == SuiteClass::Anonymous),
        anonymous,
        "{posture:?}"
    );
    let broken = oracle(&["-no_tls1_3", "-cipher", "NULL:EXPORT:RC4:DES:@SECLEVEL=0"]);
    assert_eq!(
        posture
            .weak_suites
            .iter()
            .any(|s| s.class() == SuiteClass::Insufficient),
        broken,
        "{posture:?}"
    );
    assert_eq!(
        posture.post_quantum,
        PostQuantum::None,
        "Debian's OpenSSL 3.0 has no hybrid group"
    );
    assert!(posture.sessions <= MAX_SESSIONS);
    assert_eq!(posture.extended_master_secret, Some(true));
    assert!(!posture.compression && !posture.drops_large_hello);
    world.stop().await;
}
