//! What the server tests share: a probe pointed at a test world, and the router served on
//! a loopback port.

#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::sync::Arc;

use mxtls_server::{App, Config};
use mxtls_world::World;

/// The probe configuration `mxtls serve` gets from the world's flags.
pub fn world_probe(world: &World) -> mxtls_probe::Config {
    mxtls_probe::Config {
        resolver: Some(world.resolver),
        trust_anchor: Some(world.trust_anchor.clone()),
        allow_private_targets: true,
        smtp_port: world.smtp_port,
        https_port: world.https_port,
        extra_pkix_roots: vec![world.root_ca_der.clone()],
        ..mxtls_probe::Config::default()
    }
}

/// Serves `config`'s router with `app` on a loopback port, through the same accept loop and
/// connection limits as `mxtls serve`; returns where, and the task to stop it with.
pub async fn serve(
    config: Config,
    app: Arc<App>,
) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        mxtls_server::Server::with_app(&config, app)
            .run(listener, std::future::pending())
            .await
    });
    (addr, server)
}

/// What `mxtls serve` runs for `config` (`Server::build`: store, probe, runner, watcher),
/// served on a loopback port; where, and its shared state.
pub async fn start(config: Config) -> (SocketAddr, Arc<App>) {
    let server = mxtls_server::Server::build(config)
        .await
        .expect("the server builds");
    let app = server.app().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.run(listener, std::future::pending()));
    (addr, app)
}

/// A config for a server on `db` with no web app and the probe's defaults; tests set the
/// rest.
pub fn api_only(db: &TestDb) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        web_dir: std::env::temp_dir().join("mxtls-no-web-app"),
        db: db.url.clone(),
        ..Config::default()
    }
}

/// An HTTP answer, read to the end.
pub struct Answer {
    pub status: u16,
    /// The head, lower-cased (for header checks).
    pub head: String,
    pub body: String,
}

/// `GET path` over HTTP/1.0 (so the body is close-delimited, no chunk framing inside SSE
/// lines), with `extra` header lines; a server that does not answer within a minute fails
/// the test instead of stalling it.
pub async fn get(addr: SocketAddr, path: &str, extra: &str) -> Answer {
    exchange(
        addr,
        format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n{extra}\r\n").into_bytes(),
        path,
    )
    .await
}

/// `METHOD path` with a JSON `body` (or none), over HTTP/1.0, read to the end.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Answer {
    exchange(
        addr,
        format!(
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        path,
    )
    .await
}

/// `POST path` with `body` of `content_type`, over HTTP/1.0, read to the end.
pub async fn post_bytes(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Answer {
    post_with(addr, path, content_type, body, "").await
}

/// `POST path` with `body` of `content_type` and `extra` header lines (each ending in
/// `\r\n`: a browser's `Origin`, `Sec-Fetch-Site`), over HTTP/1.0, read to the end.
pub async fn post_with(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: &[u8],
    extra: &str,
) -> Answer {
    let mut request = format!(
        "POST {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    exchange(addr, request, path).await
}

/// Sends `request` whole and reads the answer to the end, within a minute (a server that
/// refuses a large body may reset the connection after answering: what came is the answer).
async fn exchange(addr: SocketAddr, request: Vec<u8>, path: &str) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(&request).await.expect("write");
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw).await;
        raw
    };
    let raw = tokio::time::timeout(std::time::Duration::from_secs(60), exchange)
        .await
        .unwrap_or_else(|_| panic!("{path}: no complete answer within a minute"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// The messages in a Maildir (`new/`), oldest first.
pub fn mails(maildir: &std::path::Path) -> Vec<String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(maildir.join("new"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect()
}

/// The messages in a Maildir once there are `n` of them, or what there is after `within`.
pub async fn wait_for_mails(
    maildir: &std::path::Path,
    n: usize,
    within: std::time::Duration,
) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let m = mails(maildir);
        if m.len() >= n || start.elapsed() > within {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The store a server test runs on: a SQLite file by default; a throw-away PostgreSQL
/// cluster of its own when `MXTLS_TEST_STORE=postgres` (`scripts/test.sh` runs the server
/// tests both ways, so every one of them holds on both back-ends).
pub struct TestDb {
    /// What `--db` would be given.
    pub url: String,
    _cluster: Option<mxtls_world::postgres::Cluster>,
}

impl TestDb {
    /// A fresh store that lives as long as the test's app: SQLite in memory, or PostgreSQL.
    pub fn memory() -> TestDb {
        TestDb::new(std::path::Path::new(":memory:"))
    }

    /// A fresh, empty store; `sqlite` is the file used when the tests run on SQLite.
    pub fn new(sqlite: &std::path::Path) -> TestDb {
        if std::env::var("MXTLS_TEST_STORE").as_deref() == Ok("postgres") {
            let cluster = mxtls_world::postgres::Cluster::start()
                .unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
            let url = cluster.database("mxtls").expect("a database");
            TestDb {
                url,
                _cluster: Some(cluster),
            }
        } else {
            if sqlite != std::path::Path::new(":memory:") {
                let _ = std::fs::remove_file(sqlite);
            }
            TestDb {
                url: sqlite.display().to_string(),
                _cluster: None,
            }
        }
    }

    /// A connection to the store (each call its own, like another instance's).
    pub async fn open(&self) -> mxtls_server::snapshots::Store {
        let store = mxtls_server::snapshots::Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("the store {}: {e}", self.url));
        let wanted = if self._cluster.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        assert_eq!(store.engine(), wanted, "the back-end the run asked for");
        store
    }
}

/// The one integer `sql` answers on `store`, or -1 when the store does not answer.
pub async fn count(store: &mxtls_server::snapshots::Store, sql: &str) -> i64 {
    store.number(sql, vec![]).await.unwrap_or(-1)
}

/// Waits (at most `limit`) until `what` holds, looking every 50 ms.
pub async fn until<F, Fut>(limit: std::time::Duration, why: &str, mut what: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !what().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {limit:?}: {why}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
