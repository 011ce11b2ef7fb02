//! The sender test end to end, with scripted senders: `mxtls serve --sender-test` against
//! the world's `sender.test` zone, `mxtls sender-test zone` held against what the world
//! publishes (`dig`), a test started and followed with `mxtls sender-test watch`, and
//! senders that behave each way a real one might: OpenSSL's own DANE and host-name checks
//! (`openssl s_client -starttls smtp`, an independent TLS client) for the TLS cases, plain
//! TCP for the cleartext ones. Every test domain's verdict is pinned, and what must not be
//! matched (another network's connection, a dead token) is not.
//! Real MTAs as senders are `sender_test_mtas.rs`.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use mxtls_world::process::{output_with_input, output_within};
use mxtls_world::{Options, World};

mod common;
use common::{free_port, get_within, healthy, spawn};

const NET: u8 = 112;
const SMTP_PORT: u16 = 2612;

fn dig(world: &World, name: &str, rtype: &str) -> Vec<String> {
    let out = output_within(
        Command::new("dig")
            .arg(format!("@{}", world.resolver.ip()))
            .args(["+short", "+dnssec", name, rtype]),
        Duration::from_secs(10),
    )
    .expect("dig runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(rtype) && !l.contains(" RRSIG ") && !l.is_empty())
        .filter(|l| l.split_whitespace().next() != Some(rtype))
        .map(|l| normalise(rtype, l))
        .collect()
}

/// A record's data as compared: lower case, TLSA's hex in one piece, no trailing dot.
fn normalise(rtype: &str, data: &str) -> String {
    let data = data.trim().trim_end_matches('.').to_ascii_lowercase();
    if rtype == "TLSA" {
        let mut parts = data.split_whitespace();
        let head: Vec<&str> = parts.by_ref().take(3).collect();
        format!("{} {}", head.join(" "), parts.collect::<String>())
    } else {
        data
    }
}

/// One plain SMTP session from `source`: EHLO, then MAIL/RCPT/DATA to `rcpt`; the EHLO
/// reply and the reply to the end of data (or to RCPT when it was refused).
fn plain_send(to: SocketAddr, source: IpAddr, rcpt: &str) -> (String, String) {
    // A sender names itself in EHLO: the receivers match unnamed connections by it too.
    let name = if source == IpAddr::from([127, 0, 0, 1]) {
        "sender.tester.test"
    } else {
        "elsewhere.tester.test"
    };
    let socket = socket2_bind(source, to);
    let mut r = BufReader::new(socket.try_clone().expect("clone"));
    let mut w = socket;
    let mut reply = || {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) == Some(&b' ') {
                return all;
            }
        }
    };
    let greeting = reply();
    assert!(greeting.starts_with("220 "), "{greeting}");
    let say = |w: &mut TcpStream, line: &str| {
        w.write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
    };
    say(&mut w, &format!("EHLO {name}"));
    let ehlo = reply();
    say(&mut w, "MAIL FROM:<postmaster@tester.test>");
    assert!(reply().starts_with("250"));
    say(&mut w, &format!("RCPT TO:<{rcpt}>"));
    let rcpt_reply = reply();
    if !rcpt_reply.starts_with("250") {
        say(&mut w, "QUIT");
        return (ehlo, rcpt_reply);
    }
    say(&mut w, "DATA");
    assert!(reply().starts_with("354"));
    say(&mut w, "Subject: mxtls sender test\r\n\r\nhello\r\n.");
    let end = reply();
    say(&mut w, "QUIT");
    let _ = reply();
    (ehlo, end)
}

/// A TCP connection to `to` from `source`: the receivers match unnamed connections by the
/// sender's network, so the test chooses it.
fn socket2_bind(source: IpAddr, to: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let stream = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            socket.connect(to).await?.into_std()
        })
        .unwrap_or_else(|e| panic!("connect {to} from {source}: {e}"));
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
}

/// `openssl s_client -starttls smtp` as the sender: its checks (`checks`), then the message
/// to `rcpt`. Its exit status: 0 when the handshake passed its checks.
fn openssl_send(to: SocketAddr, host: &str, checks: &[String], rcpt: &str) -> (bool, String) {
    let input = format!(
        "EHLO openssl.tester.test\nMAIL FROM:<postmaster@tester.test>\nRCPT TO:<{rcpt}>\nDATA\nSubject: mxtls sender test\n\nhello\n.\nQUIT\n"
    );
    let out = output_with_input(
        Command::new("openssl")
            .args([
                "s_client",
                "-starttls",
                "smtp",
                "-crlf",
                "-ign_eof",
                "-quiet",
            ])
            .args(["-connect", &to.to_string(), "-servername", host])
            .args(checks),
        input.as_bytes(),
        Duration::from_secs(30),
    )
    .expect("openssl runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_receivers_record_and_the_verdicts_follow_what_each_sender_did() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let world = runtime
        .block_on(World::start(Options {
            net: NET,
            smtp_port: SMTP_PORT,
            https_port: 4612,
            postfix: false,
            sender_test: true,
            ..Options::default()
        }))
        .unwrap_or_else(|e| panic!("world: {e}"));
    let st = world.sender_test.clone().expect("the sender test's zone");
    let listen = st.listen.clone();
    let at = |label: &str| {
        let i = mxtls_world::sender_zone::CASES
            .iter()
            .position(|c| *c == label)
            .expect("a case");
        listen[i]
    };

    // What `mxtls sender-test zone` tells an operator to publish is what the world, written
    // from the design, publishes: every record it writes is in DNS, as dig sees it.
    let zone = output_within(
        Command::new(env!("CARGO_BIN_EXE_mxtls"))
            .args(["sender-test", "zone", "--zone", "sender.test"])
            .arg("--addresses")
            .arg(st.listen_flag())
            .arg("--cert")
            .arg(&st.cert),
        Duration::from_secs(30),
    )
    .expect("mxtls runs");
    let records = String::from_utf8_lossy(&zone.stdout).into_owned();
    assert!(
        zone.status.success(),
        "{records}{}",
        String::from_utf8_lossy(&zone.stderr)
    );
    let mut compared = 0;
    for line in records
        .lines()
        .filter(|l| !l.starts_with(';') && !l.is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (name, rtype, data) = (f[0], f[3], f[4..].join(" "));
        if name.starts_with("mta-sts.") {
            continue; // the generator was not told the world's policy host addresses
        }
        let data = normalise(rtype, data.trim_matches('"'));
        let published = dig(&world, name, rtype);
        let published: Vec<String> = published
            .iter()
            .map(|p| p.trim_matches('"').to_owned())
            .collect();
        assert!(
            published.contains(&data),
            "{name} {rtype}: dig has {published:?}, mxtls sender-test zone wrote {data:?}"
        );
        compared += 1;
    }
    assert_eq!(
        compared,
        8 * 2 + 4 + 2,
        "MX and A of each, 4 TLSA, 2 _mta-sts TXT:\n{records}"
    );

    let dir = world.dir.join("sender-test-serve");
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_port();
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let url = format!("http://{server}");
    let mut cmd = common::mxtls_at(&world, &["serve"]);
    cmd.arg("--listen")
        .arg(server.to_string())
        .arg("--db")
        .arg(dir.join("store.sqlite"))
        .args(["--web-dir", "/nonexistent", "--allow-private-targets"])
        .args(["--sender-test", "sender.test", "--sender-test-window", "60"])
        .arg("--sender-test-listen")
        .arg(st.listen_flag())
        .arg("--sender-test-cert")
        .arg(&st.cert)
        .arg("--sender-test-key")
        .arg(&st.key);
    let log = dir.join("serve.log");
    let _serve = spawn(cmd, &log);
    healthy(server, &log);

    let watch = |args: &[&str]| {
        let out = output_within(
            Command::new(env!("CARGO_BIN_EXE_mxtls"))
                .args(["sender-test", "watch", "--server", &url])
                .args(args),
            Duration::from_secs(60),
        )
        .expect("mxtls runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, started, err) = watch(&["--start", "--once", "--json"]);
    let started: serde_json::Value =
        serde_json::from_str(&started).unwrap_or_else(|e| panic!("{e}: {started}{err}"));
    assert_eq!(code, Some(0), "{err}");
    let token = started["test"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    // The world publishes every test domain as its case needs: nothing blames the sender
    // for the zone.
    assert_eq!(
        started["test"]["published"],
        serde_json::json!([]),
        "{started:#}"
    );
    assert!(
        started["verdicts"]
            .as_array()
            .expect("verdicts")
            .iter()
            .all(|v| v["outcome"] == "waiting"),
        "{started:#}"
    );

    let rcpt = |label: &str| format!("{token}@{label}.sender.test");
    let tlsa = |label: &str| {
        let host = mxtls_world::sender_zone::mx_host(label);
        dig(&world, &format!("_25._tcp.{host}"), "TLSA")
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{host} has a TLSA record"))
    };
    let dane = |label: &str| {
        let host = mxtls_world::sender_zone::mx_host(label);
        vec![
            "-dane_tlsa_domain".to_owned(),
            host,
            "-dane_tlsa_rrdata".to_owned(),
            tlsa(label),
            "-dane_ee_no_namechecks".to_owned(),
            "-verify_return_error".to_owned(),
        ]
    };
    let pkix = |host: &str| {
        vec![
            "-CAfile".to_owned(),
            world.root_ca.display().to_string(),
            "-verify_hostname".to_owned(),
            host.to_owned(),
            "-verify_return_error".to_owned(),
        ]
    };
    let me = IpAddr::from([127, 0, 0, 1]);

    // DANE: OpenSSL validates the valid records and delivers; it refuses the mismatch.
    let host = mxtls_world::sender_zone::mx_host("dane-valid");
    let (ok, out) = openssl_send(
        at("dane-valid"),
        &host,
        &dane("dane-valid"),
        &rcpt("dane-valid"),
    );
    assert!(ok && out.contains("250 2.0.0"), "{out}");
    let host = mxtls_world::sender_zone::mx_host("dane-mismatch");
    let (ok, out) = openssl_send(
        at("dane-mismatch"),
        &host,
        &dane("dane-mismatch"),
        &rcpt("dane-mismatch"),
    );
    assert!(!ok && !out.contains("250 2.0.0"), "{out}");
    // Signed without TLSA: opportunistic TLS.
    let host = mxtls_world::sender_zone::mx_host("dnssec-no-tlsa");
    let (ok, out) = openssl_send(at("dnssec-no-tlsa"), &host, &[], &rcpt("dnssec-no-tlsa"));
    assert!(ok && out.contains("250 2.0.0"), "{out}");
    // MTA-STS: the host name is checked against the world's CA.
    let host = mxtls_world::sender_zone::mx_host("sts-enforce");
    let (ok, out) = openssl_send(at("sts-enforce"), &host, &pkix(&host), &rcpt("sts-enforce"));
    assert!(ok && out.contains("250 2.0.0"), "{out}");
    let host = mxtls_world::sender_zone::mx_host("sts-wrong-name");
    let (ok, out) = openssl_send(
        at("sts-wrong-name"),
        &host,
        &pkix(&host),
        &rcpt("sts-wrong-name"),
    );
    assert!(!ok && !out.contains("250 2.0.0"), "{out}");
    // A broken STARTTLS: the handshake fails, and this sender falls back to cleartext.
    let host = mxtls_world::sender_zone::mx_host("starttls-broken");
    let (ok, out) = openssl_send(at("starttls-broken"), &host, &[], &rcpt("starttls-broken"));
    assert!(!ok && out.contains("handshake failure"), "{out}");
    let (ehlo, end) = plain_send(at("starttls-broken"), me, &rcpt("starttls-broken"));
    assert!(
        ehlo.contains("STARTTLS") && end.starts_with("250"),
        "{ehlo}{end}"
    );
    // Stripped: the EHLO reply masks STARTTLS; this sender sends in cleartext.
    let (ehlo, end) = plain_send(at("starttls-stripped"), me, &rcpt("starttls-stripped"));
    assert!(
        ehlo.contains("XXXXXXXA") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert!(end.starts_with("250"), "{end}");
    let (ehlo, end) = plain_send(at("no-starttls"), me, &rcpt("no-starttls"));
    assert!(
        !ehlo.contains("STARTTLS") && !ehlo.contains("XXXXXXXA") && end.starts_with("250"),
        "{ehlo}{end}"
    );
    // Never a message for a token that is not live, nor relayed anywhere else.
    let (_, refused) = plain_send(
        at("no-starttls"),
        me,
        "aaaaaaaaaaaaaaaaaaaaaaaaaa@no-starttls.sender.test",
    );
    assert!(refused.starts_with("550"), "{refused}");
    let (_, refused) = plain_send(at("no-starttls"), me, "someone@elsewhere.test");
    assert!(refused.starts_with("550"), "{refused}");
    // Another sender's unnamed connection (another network, another name) is not this test's.
    let other = IpAddr::from([127, NET, 77, 1]);
    let (_, refused) = plain_send(
        at("dane-mismatch"),
        other,
        "nobody@dane-mismatch.sender.test",
    );
    assert!(refused.starts_with("550"), "{refused}");

    let (code, json, err) = watch(&[&token, "--once", "--json"]);
    let json: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}{err}"));
    let verdicts: Vec<(String, String, String)> = json["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .map(|v| {
            (
                v["case"].as_str().unwrap_or("").to_owned(),
                v["outcome"].as_str().unwrap_or("").to_owned(),
                v["verdict"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        (
            "dane-valid",
            "good",
            "delivered with TLS to a correct DANE server",
        ),
        ("dane-mismatch", "good", "validates DANE"),
        ("dnssec-no-tlsa", "neutral", "uses TLS when offered"),
        (
            "sts-enforce",
            "good",
            "delivered with TLS to a valid MTA-STS server",
        ),
        ("sts-wrong-name", "good", "enforces MTA-STS"),
        (
            "starttls-broken",
            "bad",
            "falls back to cleartext when STARTTLS breaks",
        ),
        (
            "starttls-stripped",
            "bad",
            "sends in cleartext when STARTTLS is stripped",
        ),
        (
            "no-starttls",
            "neutral",
            "delivers in cleartext where no TLS is offered",
        ),
    ];
    assert_eq!(verdicts.len(), expected.len(), "{json:#}");
    for ((case, outcome, words), (want_case, want_outcome, want_words)) in
        verdicts.iter().zip(expected)
    {
        assert_eq!(
            (case.as_str(), outcome.as_str()),
            (want_case, want_outcome),
            "{words}\n{json:#}"
        );
        assert!(
            words.contains(want_words),
            "{case}: {words:?} lacks {want_words:?}"
        );
    }
    assert_eq!(
        json["summary"],
        "Your server validates DANE; enforces MTA-STS; falls back to cleartext when STARTTLS \
         breaks; sends in cleartext when STARTTLS is stripped, although DANE requires TLS.",
        "{json:#}"
    );
    // Bad verdicts: the watch exits 1.
    assert_eq!(code, Some(1), "{err}");
    let connections = json["test"]["connections"].as_array().expect("connections");
    // Ten sessions of this test (the broken STARTTLS twice), none of the other network's.
    let from_other = connections
        .iter()
        .filter(|c| c["source"] == other.to_string())
        .count();
    assert_eq!(from_other, 0, "{json:#}");
    let valid = connections
        .iter()
        .find(|c| c["case"] == "dane-valid")
        .expect("the dane-valid connection");
    assert_eq!(valid["tls"]["version"], "TLSv1.3", "{valid:#}");
    assert_eq!(
        valid["tls"]["sni"], "mx-dane-valid.sender.test",
        "{valid:#}"
    );
    assert_eq!(valid["delivered"], true);
    let mismatch = connections
        .iter()
        .find(|c| c["case"] == "dane-mismatch")
        .expect("the dane-mismatch connection");
    assert!(
        mismatch["alert"].is_string() || mismatch["tls"].is_object(),
        "{mismatch:#}"
    );
    assert_eq!(mismatch["delivered"], false);
    let broken: Vec<_> = connections
        .iter()
        .filter(|c| c["case"] == "starttls-broken")
        .collect();
    assert_eq!(broken.len(), 2, "{json:#}");
    // One STARTTLS whose handshake failed, one cleartext delivery (same second: any order).
    assert!(
        broken
            .iter()
            .any(|c| c["starttls"] == true && c["tls"].is_null() && c["delivered"] == false),
        "{json:#}"
    );
    assert!(
        broken
            .iter()
            .any(|c| c["starttls"] == false && c["delivered"] == true),
        "{json:#}"
    );

    // The API's answer is what its OpenAPI document says: every key named, every required
    // one there.
    let spec: serde_json::Value =
        serde_json::from_str(mxtls_server::OPENAPI).expect("the OpenAPI document");
    let conforms = |value: &serde_json::Value, schema: &str| {
        let schema = &spec["components"]["schemas"][schema];
        let object = value.as_object().expect("an object");
        for key in object.keys() {
            assert!(
                schema["properties"][key].is_object(),
                "{key} is not in the schema"
            );
        }
        for key in schema["required"].as_array().expect("required") {
            assert!(
                object.contains_key(key.as_str().expect("name")),
                "{key} is missing"
            );
        }
    };
    conforms(&json["test"], "SenderTest");
    for c in connections {
        conforms(c, "SenderTestConnection");
        if c["tls"].is_object() {
            conforms(&c["tls"], "SenderTestTls");
        }
    }

    // The text view says the same.
    let (_, text, _) = watch(&[&token, "--once"]);
    assert!(
        text.contains("validates DANE") && text.contains("falls back to cleartext"),
        "{text}"
    );
    // An unknown token is a clear error.
    let missing = get_within(
        server,
        "/api/sender-tests/bbbbbbbbbbbbbbbbbbbbbbbbbb",
        "",
        Duration::from_secs(10),
    )
    .expect("answer");
    assert!(
        missing.lines().next().is_some_and(|l| l.contains(" 404 "))
            && missing.contains("no such sender test"),
        "{missing}"
    );
    runtime.block_on(world.stop());
}
