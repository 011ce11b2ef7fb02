//! The crafted hellos and the first-flight reader against a real TLS stack: Debian's
//! `openssl s_server`, configured to accept exactly one thing, on loopback (net 103). What
//! OpenSSL is told to accept is the oracle; `openssl s_client` confirms each configuration
//! does accept it, so a wrong decoding cannot hide behind a wrongly configured server.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mxtls_core::names::DnsName;
use mxtls_core::tls::{
    CipherSuite, FirstFlight, KeyExchange, NamedGroup, SuiteClass, TlsVersion, parse_first_flight,
};
use mxtls_probe::client_hello::{HelloSpec, encode};
use mxtls_probe::posture::{FlightEnd, first_flight};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const X25519: NamedGroup = NamedGroup(0x001d);
const P256: NamedGroup = NamedGroup(0x0017);
const HYBRID: NamedGroup = NamedGroup(0x11ec);

/// A key and certificate for the servers, made by openssl itself.
fn certificate(dir: &std::path::Path) -> (String, String) {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=mx.posture.test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    (
        key.to_string_lossy().into_owned(),
        cert.to_string_lossy().into_owned(),
    )
}

struct Server {
    addr: SocketAddr,
    _child: Child,
}

async fn s_server(port: u16, files: &(String, String), options: &[&str]) -> Server {
    let addr: SocketAddr = format!("127.103.0.1:{port}").parse().unwrap();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(addr.to_string())
        .args(["-key", &files.0, "-cert", &files.1])
        .args(options)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl s_server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "s_server listens on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Server {
        addr,
        _child: child,
    }
}

/// `openssl s_client` completes a handshake with these options: the server's
/// configuration really accepts what the test says it does.
fn s_client_accepts(addr: SocketAddr, options: &[&str]) -> bool {
    std::process::Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(addr.to_string())
        .args(options)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl s_client runs")
        .success()
}

async fn ask(server: &Server, spec: &HelloSpec) -> (FirstFlight, FlightEnd) {
    let mut io = TcpStream::connect(server.addr).await.expect("connect");
    let hello = encode(spec).expect("a hello");
    let deadline = Instant::now() + Duration::from_secs(5);
    let (bytes, end) = first_flight(&mut io, &hello, deadline)
        .await
        .expect("a first flight");
    (parse_first_flight(&bytes), end)
}

fn spec(max_version: TlsVersion, suites: Vec<CipherSuite>) -> HelloSpec {
    HelloSpec {
        max_version,
        suites,
        groups: vec![HYBRID, X25519, P256],
        key_shares: vec![X25519],
        sni: DnsName::parse("mx.posture.test").ok(),
    }
}

fn modern() -> Vec<CipherSuite> {
    CipherSuite::of_classes(&[SuiteClass::Good])
}

#[tokio::test]
async fn openssl_answers_each_crafted_hello_as_configured() {
    let dir = std::env::temp_dir().join(format!("mxtls-posture-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let files = certificate(&dir);

    // Today's defaults: TLS 1.2 and 1.3, no hybrid group in OpenSSL 3.0.
    let default = s_server(4431, &files, &[]).await;
    let (flight, end) = ask(&default, &spec(TlsVersion::TLS13, modern())).await;
    let hello = flight.hello.expect("a ServerHello");
    assert_eq!(end, FlightEnd::Complete);
    assert_eq!((hello.version, hello.retry), (TlsVersion::TLS13, false));
    assert_eq!(
        hello.key_share,
        Some(X25519),
        "OpenSSL 3.0 has no hybrid group"
    );
    assert!(hello.cipher_suite.is_tls13());

    // A P-256 server asked with an X25519 share only: it retries, naming its group.
    let p256 = s_server(4432, &files, &["-groups", "P-256"]).await;
    let (flight, _) = ask(&p256, &spec(TlsVersion::TLS13, modern())).await;
    let hello = flight.hello.expect("a HelloRetryRequest");
    assert!(hello.retry);
    assert_eq!(hello.key_share, Some(P256));

    // TLS 1.2 from the same default server: the whole flight, with EMS and secure
    // renegotiation, the group chosen and the signature scheme.
    let (flight, end) = ask(&default, &spec(TlsVersion::TLS12, modern())).await;
    let hello = flight.hello.clone().expect("a ServerHello");
    assert_eq!(end, FlightEnd::Complete);
    assert_eq!(hello.version, TlsVersion::TLS12);
    assert_eq!(hello.cipher_suite.class(), SuiteClass::Good);
    assert!(hello.extended_master_secret && hello.secure_renegotiation);
    assert_eq!(hello.compression, 0);
    assert_eq!(flight.certificates, Some(1));
    assert_eq!(
        flight.key_exchange,
        Some(KeyExchange::Ecdhe { group: X25519 })
    );
    assert!(flight.signature_scheme.is_some() && flight.done);

    // Only broken suites offered to a default server: a handshake_failure alert.
    let weak = CipherSuite::of_classes(&[SuiteClass::Insufficient, SuiteClass::Anonymous]);
    let (flight, _) = ask(&default, &spec(TlsVersion::TLS12, weak.clone())).await;
    assert_eq!(flight.hello, None);
    assert_eq!(
        flight.alert.map(|a| (a.fatal, a.description)),
        Some((true, 40))
    );
    // …and TLS 1.1 refused: a fatal alert (OpenSSL 3.0 sends internal_error, 80, having no
    // protocol to offer at its security level), no hello.
    let (flight, _) = ask(&default, &spec(TlsVersion::TLS11, modern_and_cbc())).await;
    assert_eq!(flight.hello, None);
    assert!(flight.alert.is_some_and(|a| a.fatal), "{:?}", flight.alert);

    // A server that accepts TLS 1.0 (security level 0, as old configurations do).
    let old = s_server(4433, &files, &["-tls1", "-cipher", "ALL:@SECLEVEL=0"]).await;
    assert!(s_client_accepts(
        old.addr,
        &["-tls1", "-cipher", "ALL:@SECLEVEL=0"]
    ));
    let (flight, _) = ask(&old, &spec(TlsVersion::TLS11, modern_and_cbc())).await;
    let hello = flight.hello.expect("a ServerHello");
    assert_eq!(hello.version, TlsVersion::TLS10);
    assert_eq!(hello.cipher_suite.class(), SuiteClass::CbcSha1);

    // Anonymous suites accepted: the suite is named, its key exchange has no signature.
    let anon = s_server(
        4434,
        &files,
        &["-no_tls1_3", "-cipher", "aNULL:@SECLEVEL=0"],
    )
    .await;
    assert!(s_client_accepts(
        anon.addr,
        &["-no_tls1_3", "-cipher", "aNULL:@SECLEVEL=0"]
    ));
    let (flight, end) = ask(&anon, &spec(TlsVersion::TLS12, weak)).await;
    let hello = flight.hello.clone().expect("a ServerHello");
    assert_eq!(end, FlightEnd::Complete);
    assert_eq!(hello.cipher_suite.class(), SuiteClass::Anonymous);
    assert_eq!(
        flight.certificates, None,
        "an anonymous suite sends no certificate"
    );
    assert!(flight.key_exchange.is_some() && flight.signature_scheme.is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a TLS ≤ 1.1 server can choose from: the modern suites have none for it.
fn modern_and_cbc() -> Vec<CipherSuite> {
    CipherSuite::of_classes(&[
        SuiteClass::Good,
        SuiteClass::Sufficient,
        SuiteClass::CbcSha1,
        SuiteClass::PhaseOut,
    ])
}
