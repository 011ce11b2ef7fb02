//! Watched domains against the test world: a webhook receiver on loopback gets the first
//! report and then only changes (a mail server of the world is stopped between two
//! re-checks, and the diff names it); an email watch goes through a real Postfix into a
//! Maildir, sends nothing but the confirmation until its link is followed; watches survive
//! a restart of the server; the history API, the Atom feed and `/metrics` show them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mxtls_server::watches::WatchLimits;
use mxtls_server::{App, Config, Limits};
use mxtls_world::{Options, World};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

mod common;

const INTERVAL: Duration = Duration::from_secs(3);
/// Where the mailbox Postfix listens; the port is picked free at run time, so a Postfix
/// left over from an interrupted run (Postfix binds with SO_REUSEPORT) cannot share it.
const RELAY_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 63, 9, 1);

/// A webhook receiver: every POST body, as JSON, on the channel; answers 204.
async fn receiver() -> (SocketAddr, mpsc::UnboundedReceiver<Value>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                let body = loop {
                    let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await
                    else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
                            assert!(
                                head.to_ascii_lowercase()
                                    .contains("content-type: application/json")
                            );
                            break body.to_owned();
                        }
                    }
                };
                let _ = s
                    .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                if let Ok(v) = serde_json::from_str(&body) {
                    let _ = tx.send(v);
                }
            });
        }
    });
    (addr, rx)
}

async fn next_post(rx: &mut mpsc::UnboundedReceiver<Value>, within: Duration) -> Option<Value> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

fn codes(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

fn config(world: &World, db: &common::TestDb, relay: SocketAddr) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        web_dir: world.dir.clone(),
        db: db.url.clone(),
        probe: common::world_probe(world),
        public_url: Some("http://checker.test".into()),
        watch: WatchLimits {
            interval: INTERVAL,
            per_client: 3,
            ..WatchLimits::default()
        },
        delivery: mxtls_server::notify::Delivery {
            allow_private_targets: true,
            smtp_relay: Some(relay),
            mail_from: "mxtls@checker.test".into(),
        },
        ..Config::default()
    }
}

/// A server on a loopback port with its watcher running; the task ends it.
async fn start(
    world: &World,
    db: &common::TestDb,
    relay: SocketAddr,
) -> (SocketAddr, Arc<App>, tokio::task::JoinHandle<()>) {
    let config = config(world, db, relay);
    let mut app = App::new(
        db.open().await,
        config.probe.clone(),
        Limits {
            per_client_per_minute: 100,
            ..Limits::default()
        },
    );
    app.watch = config.watch.clone();
    app.delivery = config.delivery.clone();
    app.public_url = config.public_url.clone().unwrap_or_default();
    let app = Arc::new(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (a, c) = (app.clone(), config);
    let task = tokio::spawn(async move {
        mxtls_server::start_watcher(&a);
        let _ = mxtls_server::Server::with_app(&c, a)
            .run(listener, std::future::pending())
            .await;
    });
    (addr, app, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_notify_first_and_on_change_by_webhook_and_mail_and_survive_restart() {
    let world = World::start(Options {
        net: 63,
        smtp_port: 2563,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let mailbox_dir = world.dir.join("mailbox");
    let port = std::net::TcpListener::bind((RELAY_IP, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let relay = SocketAddr::from((RELAY_IP, port));
    let (postfix, maildir) =
        mxtls_world::daemons::mailbox_postfix(&mailbox_dir, RELAY_IP, port, "watch.test")
            .expect("the mailbox Postfix starts");
    let db = common::TestDb::new(&world.dir.join("watches.sqlite"));
    let (addr, _app, server) = start(&world, &db, relay).await;
    let (hook, mut posts) = receiver().await;

    // Bad requests get clear errors; nothing is stored.
    for (body, why) in [
        (r#"{"domain":"dane-ee.test"}"#, "exactly one"),
        (
            r#"{"domain":"not a domain","webhook":"http://127.0.0.1:1/"}"#,
            "",
        ),
        (
            r#"{"domain":"dane-ee.test","webhook":"ftp://x/"}"#,
            "http://",
        ),
        (
            r#"{"domain":"dane-ee.test","email":"nobody"}"#,
            "not an email",
        ),
        (
            r#"{"domain":"dane-ee.test","webhook":"http://x/","extra":1}"#,
            "unknown field",
        ),
    ] {
        let a = common::request(addr, "POST", "/api/watches", body).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert!(a.body.contains(why), "{body}: {}", a.body);
    }

    // A webhook watch: 201 and an id, then the first report.
    let body = format!(r#"{{"domain":"dane-ee.test","webhook":"http://{hook}/hook"}}"#);
    let a = common::request(addr, "POST", "/api/watches", &body).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let created: Value = serde_json::from_str(&a.body).expect("json");
    assert_eq!(created["state"], "active");
    let hook_id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(hook_id.len(), 32);

    let first = next_post(&mut posts, Duration::from_secs(30))
        .await
        .expect("the first report is posted");
    println!(
        "webhook, first: {}",
        serde_json::to_string_pretty(&first).unwrap_or_default()
    );
    assert_eq!(first["domain"], "dane-ee.test");
    assert_eq!(first["first"], true);
    assert_eq!(
        first["idempotency_key"],
        format!("{hook_id}-first"),
        "the first notice's key"
    );
    assert_eq!(first["state"], "ok");
    assert!(
        first["answer"].as_str().unwrap_or("").contains("protected"),
        "{first}"
    );
    assert!(
        codes(&first["added"]).contains(&"dane-verified".to_owned()),
        "{first}"
    );
    assert_eq!(codes(&first["removed"]), Vec::<String>::new());
    assert!(first["previous"].is_null());
    let first_snapshot = first["snapshot"].as_str().expect("link").to_owned();
    assert!(
        first_snapshot.starts_with("http://checker.test/r/"),
        "{first_snapshot}"
    );

    // The next re-checks find nothing new: nothing is posted.
    assert!(
        next_post(&mut posts, INTERVAL * 3).await.is_none(),
        "no change, no notification"
    );
    let history: Value = serde_json::from_str(
        &common::get(addr, "/api/domains/dane-ee.test/history", "")
            .await
            .body,
    )
    .expect("history json");
    let unchanged = history["snapshots"].as_array().map(Vec::len).unwrap_or(0);
    assert!(unchanged >= 2, "re-checked without news: {history}");

    // The world changes: the mail server stops. The next notification names it.
    assert!(world.stop_smtp("dane-ee.test"));
    let change = next_post(&mut posts, Duration::from_secs(30))
        .await
        .expect("the change is posted");
    println!(
        "webhook, change: {}",
        serde_json::to_string_pretty(&change).unwrap_or_default()
    );
    assert_eq!(change["first"], false);
    assert!(
        change["idempotency_key"]
            .as_str()
            .is_some_and(|k| k.starts_with(&format!("{hook_id}-after-"))),
        "a change's key names the snapshot before it: {change}"
    );
    assert!(
        codes(&change["added"]).contains(&"smtp-unreachable".to_owned()),
        "{change}"
    );
    assert!(
        codes(&change["removed"]).contains(&"dane-verified".to_owned()),
        "{change}"
    );
    assert!(
        change["previous"]
            .as_str()
            .is_some_and(|p| p.starts_with("http://checker.test/r/"))
    );
    assert_ne!(change["snapshot"], change["previous"]);

    // An email watch: the confirmation mail, and nothing else until it is followed.
    let a = common::request(
        addr,
        "POST",
        "/api/watches",
        r#"{"domain":"dane-ta.test","email":"owner@watch.test"}"#,
    )
    .await;
    let maillog = || std::fs::read_to_string(mailbox_dir.join("maillog")).unwrap_or_default();
    assert_eq!(a.status, 201, "{}\n{}", a.body, maillog());
    let created: Value = serde_json::from_str(&a.body).expect("json");
    assert_eq!(created["state"], "awaiting-confirmation");
    let again = common::request(
        addr,
        "POST",
        "/api/watches",
        r#"{"domain":"dane-ee.test","email":"OWNER@watch.test"}"#,
    )
    .await;
    assert_eq!(
        again.status, 429,
        "one pending confirmation per address: {}",
        again.body
    );
    let got = common::wait_for_mails(&maildir, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "the confirmation mail arrives");
    let confirmation = &got[0];
    println!("mail, confirmation:\n{confirmation}");
    assert!(confirmation.contains("Subject: mxtls: confirm watching dane-ta.test"));
    assert!(confirmation.contains("To: owner@watch.test"));
    let link = confirmation
        .split_whitespace()
        .find(|w| {
            w.starts_with("http://checker.test/api/watches/") && w.contains("/confirm?token=")
        })
        .expect("the link")
        .to_owned();
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(
        common::mails(&maildir).len(),
        1,
        "nothing is sent before confirmation"
    );

    let path = link.trim_start_matches("http://checker.test");
    let page = common::get(addr, path, "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    assert_eq!(
        common::mails(&maildir).len(),
        1,
        "opening the link alone confirms nothing"
    );
    let confirmed = common::request(addr, "POST", path, "").await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert!(confirmed.body.contains("Confirmed"));
    let again = common::request(addr, "POST", path, "").await;
    assert_eq!(again.status, 404, "a link confirms once");
    let got = common::wait_for_mails(&maildir, 2, Duration::from_secs(30)).await;
    assert_eq!(
        got.len(),
        2,
        "the first report follows the confirmation\n{}",
        maillog()
    );
    let report = &got[1];
    println!("mail, first report:\n{report}");
    assert!(report.contains("Subject: mxtls: dane-ta.test"), "{report}");
    assert!(
        report.contains("Findings (first check of this watch)"),
        "{report}"
    );
    assert!(report.contains("dane-verified"), "{report}");
    assert!(report.contains("http://checker.test/r/"), "{report}");

    // Per-client limit: this client holds 2; a third is allowed, a fourth is not.
    let third = format!(r#"{{"domain":"rollover.test","webhook":"http://{hook}/hook"}}"#);
    assert_eq!(
        common::request(addr, "POST", "/api/watches", &third)
            .await
            .status,
        201
    );
    let fourth = format!(r#"{{"domain":"ipv6.test","webhook":"http://{hook}/hook"}}"#);
    let a = common::request(addr, "POST", "/api/watches", &fourth).await;
    assert_eq!(a.status, 429, "{}", a.body);
    // Ending a watch: 204, then 404.
    let body = common::request(addr, "POST", "/api/watches", &third).await;
    assert_eq!(body.status, 429, "still at the limit");
    let metrics = common::get(addr, "/metrics", "").await;
    assert!(metrics.body.contains("mxtls_watches 3"), "{}", metrics.body);

    // Restart: the same store, a new server; the watches go on.
    server.abort();
    let _ = server.await;
    let snapshots_before = stored_snapshots(&db, "dane-ta.test").await;
    let (addr, _app, server) = start(&world, &db, relay).await;
    let metrics = common::get(addr, "/metrics", "").await;
    println!("{}", metrics.body);
    assert!(metrics.body.contains("mxtls_watches 3"), "{}", metrics.body);
    assert!(
        metrics
            .body
            .contains("mxtls_watched_domain_state{domain=\"dane-ee.test\"}"),
        "{}",
        metrics.body
    );
    let start_wait = Instant::now();
    loop {
        let h: Value = serde_json::from_str(
            &common::get(addr, "/api/domains/dane-ta.test/history", "")
                .await
                .body,
        )
        .expect("history");
        let n = h["snapshots"].as_array().map(Vec::len).unwrap_or(0);
        if n > snapshots_before {
            break;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(30),
            "re-checked after restart"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let m = common::get(addr, "/metrics", "").await.body;
    assert!(
        m.contains("mxtls_checks_finished_total{outcome=\"evidence\"}"),
        "{m}"
    );

    // The history and its feed name the change.
    let h: Value = serde_json::from_str(
        &common::get(addr, "/api/domains/dane-ee.test/history", "")
            .await
            .body,
    )
    .expect("history");
    let entries = h["snapshots"].as_array().expect("snapshots");
    assert!(entries.len() > unchanged);
    assert!(
        entries
            .windows(2)
            .all(|w| w[0]["finished_at"].as_i64() >= w[1]["finished_at"].as_i64())
    );
    let feed = common::get(addr, "/d/dane-ee.test/feed.atom", "").await;
    assert_eq!(feed.status, 200);
    assert!(feed.head.contains("application/atom+xml"));
    assert_eq!(
        feed.body.matches("<entry>").count(),
        2,
        "the first report and the change, not the unchanged re-checks: {}",
        feed.body
    );
    assert!(feed.body.contains("smtp-unreachable"), "{}", feed.body);

    let gone = common::request(addr, "DELETE", &format!("/api/watches/{hook_id}"), "").await;
    assert_eq!(gone.status, 204);
    let again = common::request(addr, "DELETE", &format!("/api/watches/{hook_id}"), "").await;
    assert_eq!(again.status, 404);
    server.abort();
    // Before the world: its directory holds the mailbox's configuration `postfix abort` reads.
    postfix.stop().await;
    world.stop().await;
}

/// Snapshots of `domain` in the store file, read directly.
async fn stored_snapshots(db: &common::TestDb, domain: &str) -> usize {
    db.open()
        .await
        .history(domain, 1000)
        .await
        .map(|h| h.len())
        .unwrap_or(0)
}

/// `POST /tlsrpt/{domain}` (RFC 8460 §5.4): a gzipped report for a watched domain is stored,
/// shown in the history, and — since it reports `starttls-not-supported` where the world's
/// server offers STARTTLS — sent to the watch as stripping on the senders' path. Other
/// domains, media types, sizes and malformed reports are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_rpt_reports_are_received_for_watched_domains() {
    let world = World::start(Options {
        net: 65,
        smtp_port: 2565,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let db = common::TestDb::new(&world.dir.join("reports.sqlite"));
    let (addr, _app, server) = start(&world, &db, "127.0.0.1:9".parse().expect("addr")).await;
    let (hook, mut posts) = receiver().await;
    let body = format!(r#"{{"domain":"dane-ee.test","webhook":"http://{hook}/hook"}}"#);
    assert_eq!(
        common::request(addr, "POST", "/api/watches", &body)
            .await
            .status,
        201
    );
    let first = next_post(&mut posts, Duration::from_secs(30))
        .await
        .expect("first report");
    assert_eq!(first["first"], true);

    let report = mxtls_world::sender_reports::google(
        "dane-ee.test",
        "mx.dane-ee.test",
        "starttls-not-supported",
        12,
    );
    let gzipped = mxtls_world::sender_reports::gzip(report.as_bytes());
    let post = |path: String, kind: &'static str, body: Vec<u8>| async move {
        let a = common::post_bytes(addr, &path, kind, &body).await;
        (a.status, format!("{}\r\n\r\n{}", a.head, a.body))
    };
    let (status, text) = post(
        "/tlsrpt/dane-ee.test".into(),
        "application/tlsrpt+gzip",
        gzipped.clone(),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    assert!(text.contains(r#""stored":true"#), "{text}");
    let (status, text) = post(
        "/tlsrpt/dane-ee.test".into(),
        "application/tlsrpt+gzip",
        gzipped.clone(),
    )
    .await;
    assert_eq!(status, 201);
    assert!(
        text.contains(r#""stored":false"#),
        "the same report twice is stored once: {text}"
    );

    let told = next_post(&mut posts, Duration::from_secs(30))
        .await
        .expect("the report is told");
    println!(
        "webhook, tls-rpt: {}",
        serde_json::to_string_pretty(&told).unwrap_or_default()
    );
    assert_eq!(told["kind"], "tls-rpt");
    assert_eq!(told["organization"], "Google Inc.");
    assert_eq!(told["failed_sessions"], 12);
    assert_eq!(codes(&told["findings"]), ["tlsrpt-stripping-on-path"]);

    let h: Value = serde_json::from_str(
        &common::get(addr, "/api/domains/dane-ee.test/history", "")
            .await
            .body,
    )
    .expect("history");
    assert_eq!(h["reports"][0]["organization"], "Google Inc.");
    assert_eq!(h["reports"][0]["failed"], 12);
    assert_eq!(h["reports"].as_array().map(Vec::len), Some(1));

    // Refused: a domain nobody watches, another media type, another policy domain, a
    // report that does not read, a body over the limit.
    let (status, _) = post(
        "/tlsrpt/dane-ta.test".into(),
        "application/tlsrpt+gzip",
        gzipped.clone(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        "/tlsrpt/dane-ee.test".into(),
        "application/json",
        report.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 415);
    let other = report.replace(
        r#""policy-domain":"dane-ee.test""#,
        r#""policy-domain":"elsewhere.test""#,
    );
    let (status, text) = post(
        "/tlsrpt/dane-ee.test".into(),
        "application/tlsrpt+json",
        other.into_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    let (status, text) = post(
        "/tlsrpt/dane-ee.test".into(),
        "application/tlsrpt+json",
        b"{\"policies\":1}".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("not a TLS-RPT report"), "{text}");
    let (status, _) = post(
        "/tlsrpt/dane-ee.test".into(),
        "application/tlsrpt+json",
        vec![b' '; 2 * 1024 * 1024],
    )
    .await;
    assert_eq!(status, 413);
    // Another report within the hour is stored but not told again: forged reports cannot
    // flood the owner.
    let second = report.replace("2026-11-30T00:00:00Z_dane-ee.test", "second-report");
    let (status, text) = post(
        "/tlsrpt/dane-ee.test".into(),
        "application/tlsrpt+json",
        second.into_bytes(),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    assert!(text.contains(r#""stored":true"#), "{text}");
    assert!(
        next_post(&mut posts, Duration::from_secs(3))
            .await
            .is_none(),
        "one report notification per watch an hour"
    );
    // Ten posts a minute per client (the body over the limit never reached the handler, so
    // seven so far); then 429.
    for _ in 0..3 {
        let (status, _) = post(
            "/tlsrpt/dane-ta.test".into(),
            "application/tlsrpt+gzip",
            gzipped.clone(),
        )
        .await;
        assert_eq!(status, 404);
    }
    let (status, text) = post(
        "/tlsrpt/dane-ee.test".into(),
        "application/tlsrpt+gzip",
        gzipped.clone(),
    )
    .await;
    assert_eq!(status, 429, "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after"), "{text}");
    let m = common::get(addr, "/metrics", "").await.body;
    assert!(m.contains("mxtls_tls_reports_received_total 3"), "{m}");
    server.abort();
    world.stop().await;
}
