//! The watches' outbox against real parts: webhook receivers on loopback that fail, are down,
//! redirect, refuse or never answer; the world's real Postfix stopped and started again; a
//! restart of the server; two instances on one PostgreSQL. Every notice is delivered once
//! (by its idempotency key), in order per watch, late rather than never; a refused one is
//! given up and shown in the history and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mxtls_server::watches::WatchLimits;
use mxtls_server::{App, Config, Limits};
use mxtls_world::{Options, World};
use serde_json::Value;
use tokio::net::TcpListener;

#[path = "../common/mod.rs"]
mod common;
mod give_up;
mod receiver;
mod restart;

use receiver::{Receiver, duplicates};

const INTERVAL: Duration = Duration::from_secs(3);
const WITHIN: Duration = Duration::from_secs(90);

/// Waits until `cond` holds, up to `within`; whether it did.
async fn until(within: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond().await {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn limits() -> WatchLimits {
    WatchLimits {
        interval: INTERVAL,
        per_client: 20,
        deliveries: 8,
        retry_first: Duration::from_millis(200),
        give_up_after: Duration::from_secs(600),
        ..WatchLimits::default()
    }
}

fn config(world: &World, db: &common::TestDb, relay: SocketAddr) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        // No web app: these tests read the API only.
        web_dir: world.dir.join("no-web-app"),
        db: db.url.clone(),
        probe: common::world_probe(world),
        public_url: Some("http://checker.test".into()),
        watch: limits(),
        delivery: mxtls_server::notify::Delivery {
            allow_private_targets: true,
            smtp_relay: Some(relay),
            mail_from: "mxtls@checker.test".into(),
        },
        ..Config::default()
    }
}

/// An instance: the server on a loopback port with its watcher and delivery running.
struct Instance {
    addr: SocketAddr,
    app: Arc<App>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Instance {
    async fn start(world: &World, db: &common::TestDb, relay: SocketAddr) -> Instance {
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
        let mut tasks = mxtls_server::start_watcher(&app).to_vec();
        let (addr, server) = common::serve(config, app.clone()).await;
        tasks.push(server.abort_handle());
        Instance { addr, app, tasks }
    }

    /// Ends the server, its watcher and its delivery loop (a deliberate crash: nothing is
    /// flushed).
    fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    async fn watch(&self, domain: &str, target: &str) -> String {
        let body = format!(r#"{{"domain":"{domain}",{target}}}"#);
        let a = common::request(self.addr, "POST", "/api/watches", &body).await;
        assert_eq!(a.status, 201, "{body}: {}", a.body);
        let v: Value = serde_json::from_str(&a.body).expect("json");
        v["id"].as_str().expect("id").to_owned()
    }

    /// (key, kind, state, attempts) of each notice of watch `id`, oldest first.
    async fn notices(&self, id: &str) -> Vec<(String, String, String, i64)> {
        self.app.store.watch_notices(id).await.expect("the outbox")
    }

    async fn metric(&self, line: &str) -> Option<u64> {
        let m = common::get(self.addr, "/metrics", "").await.body;
        m.lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
    }
}

fn hook(addr: SocketAddr, path: &str) -> String {
    format!(r#""webhook":"http://{addr}{path}""#)
}

fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_notices_are_retried_redirected_given_up_and_never_doubled() {
    let world = World::start(Options {
        net: 82,
        smtp_port: 2582,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("world");
    let db = common::TestDb::new(&world.dir.join("outbox.sqlite"));
    let no_relay: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let server = Instance::start(&world, &db, no_relay).await;

    // (e) A silent receiver (takes the connection, never answers) for four watches: their
    // deliveries hang, each in its own delivery slot.
    let (silent_addr, l) = Receiver::bind().await;
    let silent = Receiver::start(l, Arc::new(|_: &str, _| None));
    let mut silent_watches = Vec::new();
    for _ in 0..4 {
        silent_watches.push(
            server
                .watch("tlsa-mismatch.test", &hook(silent_addr, "/hook"))
                .await,
        );
    }
    assert!(
        until(WITHIN, async || silent.open.load(Ordering::SeqCst) >= 4).await,
        "the four notices reach the silent receiver: {:?}",
        silent.hits()
    );

    // (a) Answers 500 to the first three tries of each notice, then 204.
    let (flaky_addr, l) = Receiver::bind().await;
    let flaky = Receiver::start(
        l,
        Arc::new(|_: &str, nth| Some((if nth < 3 { 500 } else { 204 }, None))),
    );
    // (b) Down: nothing listens on its port until later.
    let down_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    // (c) Redirects /hook to /moved.
    let (moving_addr, l) = Receiver::bind().await;
    let moving = Receiver::start(
        l,
        Arc::new(|path: &str, _| match path {
            "/hook" => Some((302, Some("/moved"))),
            _ => Some((204, None)),
        }),
    );
    // Refuses for good: 404 is given up at once.
    let (refusing_addr, l) = Receiver::bind().await;
    let refusing = Receiver::start(l, Arc::new(|_: &str, _| Some((404, None))));

    let flaky_watch = server
        .watch("dane-ee.test", &hook(flaky_addr, "/hook"))
        .await;
    let down_watch = server
        .watch("dane-ta.test", &hook(down_port, "/hook"))
        .await;
    let moving_watch = server
        .watch("rollover.test", &hook(moving_addr, "/hook"))
        .await;
    let refused_watch = server
        .watch("pkix-usages.test", &hook(refusing_addr, "/hook"))
        .await;

    // As soon as the first notice of dane-ee.test has failed once, its mail server stops:
    // the change is judged while the first notice is still being retried.
    assert!(
        until(WITHIN, async || !flaky.hits().is_empty()).await,
        "the first try reaches the flaky receiver"
    );
    assert!(world.stop_smtp("dane-ee.test"));

    // (b) The down receiver's notice is tried, fails, and is delivered once it listens.
    assert!(
        until(WITHIN, async || server
            .notices(&down_watch)
            .await
            .first()
            .is_some_and(|n| n.3 >= 2))
        .await,
        "tried at least twice while the receiver is down: {:?}",
        server.notices(&down_watch).await
    );
    let back = Receiver::start(
        TcpListener::bind(down_port).await.expect("the port again"),
        Arc::new(|_: &str, _| Some((200, None))),
    );

    assert!(
        until(WITHIN, async || flaky.delivered().len() >= 2
            && !back.delivered().is_empty()
            && moving.delivered().len() == 1
            && server
                .notices(&refused_watch)
                .await
                .first()
                .is_some_and(|n| n.2 == "given_up"))
        .await,
        "flaky {:?}\nback {:?}\nmoving {:?}\nrefused {:?}",
        flaky.hits(),
        back.hits(),
        moving.hits(),
        server.notices(&refused_watch).await
    );
    // Another round of checks: nothing more is sent (no change, nothing owed).
    let settled = Instant::now();
    assert!(until(WITHIN, async || settled.elapsed() > INTERVAL * 2).await);

    // (a) Each notice: three 500s then one 204, in order (first, then the change).
    let flaky_hits = flaky.hits();
    let delivered = flaky.delivered();
    println!(
        "flaky receiver: {} requests, {} delivered",
        flaky_hits.len(),
        delivered.len()
    );
    assert_eq!(delivered.len(), 2, "{flaky_hits:?}");
    assert_eq!(delivered[0].body["first"], true);
    assert_eq!(delivered[1].body["first"], false);
    assert!(codes(&delivered[1].body["added"]).contains(&"smtp-unreachable".to_owned()));
    for d in &delivered {
        assert_eq!(
            d.body["idempotency_key"],
            d.key.as_str(),
            "header and body agree"
        );
        let tries: Vec<u16> = flaky_hits
            .iter()
            .filter(|h| h.key == d.key)
            .map(|h| h.answered)
            .collect();
        assert_eq!(tries, [500, 500, 500, 204], "{}", d.key);
    }
    assert_eq!(delivered[0].key, format!("{flaky_watch}-first"));
    assert!(duplicates(&delivered).is_empty());
    let flaky_notices = server.notices(&flaky_watch).await;
    assert_eq!(
        flaky_notices
            .iter()
            .map(|n| (n.1.as_str(), n.2.as_str(), n.3))
            .collect::<Vec<_>>(),
        [("first", "delivered", 4), ("change", "delivered", 4)]
    );

    // (b) Delivered once, late.
    let back_hits = back.hits();
    let down_notices = server.notices(&down_watch).await;
    println!(
        "down receiver: delivered {} after {} attempts",
        back_hits.len(),
        down_notices[0].3
    );
    assert_eq!(back_hits.len(), 1, "{back_hits:?}");
    assert_eq!(back_hits[0].body["first"], true);
    assert_eq!(back_hits[0].key, format!("{down_watch}-first"));
    assert_eq!(down_notices.len(), 1);
    assert_eq!(down_notices[0].2, "delivered");
    assert!(down_notices[0].3 >= 3, "{down_notices:?}");

    // (c) One 302 on /hook, one delivery on /moved, the same notice.
    let moving_hits = moving.hits();
    println!(
        "redirecting receiver: {:?}",
        moving_hits
            .iter()
            .map(|h| (&h.path, h.answered, &h.key))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        moving_hits
            .iter()
            .map(|h| (h.path.as_str(), h.answered))
            .collect::<Vec<_>>(),
        [("/hook", 302), ("/moved", 204)]
    );
    assert_eq!(moving_hits[0].key, moving_hits[1].key);
    assert_eq!(moving_hits[1].key, format!("{moving_watch}-first"));

    // Given up at once, shown in the history.
    assert_eq!(refusing.hits().len(), 1, "a 404 is not retried");
    let history: Value = serde_json::from_str(
        &common::get(server.addr, "/api/domains/pkix-usages.test/history", "")
            .await
            .body,
    )
    .expect("history");
    let undelivered = history["undelivered"].as_array().expect("undelivered");
    assert_eq!(undelivered.len(), 1, "{history}");
    assert_eq!(undelivered[0]["kind"], "first");
    assert_eq!(undelivered[0]["attempts"], 1);
    assert!(
        undelivered[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("404"),
        "{history}"
    );
    let clean: Value = serde_json::from_str(
        &common::get(server.addr, "/api/domains/dane-ee.test/history", "")
            .await
            .body,
    )
    .expect("history");
    assert_eq!(clean["undelivered"], serde_json::json!([]));

    // (e) Everything above happened while the silent receiver held its notices: they are
    // still pending, the other watches were checked and told.
    for id in &silent_watches {
        let n = server.notices(id).await;
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].2, "pending", "{n:?}");
    }
    println!(
        "silent receiver: {} requests, none answered",
        silent.hits().len()
    );
    assert!(silent.hits().iter().all(|h| h.answered == 0));

    // /metrics: 2 + 1 + 1 delivered, one given up, the silent four pending, and retries.
    let delivered = server
        .metric("mxtls_notifications_total{result=\"delivered\"}")
        .await;
    let given_up = server
        .metric("mxtls_notifications_total{result=\"given_up\"}")
        .await;
    let retried = server
        .metric("mxtls_notifications_total{result=\"retried\"}")
        .await;
    let pending = server.metric("mxtls_notifications_pending").await;
    println!(
        "metrics: delivered {delivered:?}, retried {retried:?}, given up {given_up:?}, pending {pending:?}"
    );
    assert_eq!(delivered, Some(4));
    assert_eq!(given_up, Some(1));
    assert!(retried.is_some_and(|r| r >= 8), "{retried:?}");
    assert_eq!(pending, Some(4));
    server.stop();
    world.stop().await;
}
