//! mxtls-server: the web app (built by Trunk into `dist/`) with client-side routes, the JSON
//! API and `/healthz`. The page judges evidence itself, with mxtls-core compiled to wasm; the
//! server sends evidence and progress, never verdicts.
//!
//! API:
//! * `GET /api/check/{domain}` — server-sent events: `progress` (probe events) while the check
//!   runs, then `evidence` (`{"snapshot": id, "evidence": …}`) or `error` (`{"error": …}`).
//!   Browsers may start checks only from our own pages (`Sec-Fetch-Site`/`Origin`, else 403).
//! * `GET /api/snapshots/{id}` — a snapshot's evidence; immutable (long cache life, ETag).
//! * `GET /api/domains/{domain}/latest` — the domain's latest snapshot, for the widget, which
//!   must not probe the servers on every page view of the site it is embedded in.
//! * `GET /api/examples` — domains the home page offers as examples (`--example`).
//! * `GET /api/roots` — the PKIX root set the page judges with (the server's, so browser
//!   and CLI trust the same roots); fetched when a report is first drawn.
//! * `GET /badge/{domain}.svg` — a badge from the domain's latest snapshot.
//! * `GET /api/domains/{domain}/history` — the domain's snapshots with their answer lines;
//!   `/d/{domain}/feed.atom` the same as an Atom feed of changes.
//! * `POST /api/watches`, `DELETE /api/watches/{id}` — watched domains (see `watches`);
//!   `/api/watches/{id}/confirm` confirms an email watch.
//! * `POST /tlsrpt/{domain}` — TLS-RPT reports over HTTPS (RFC 8460 §5.4), for watched
//!   domains; failures go to the watches.
//! * `GET /metrics` — Prometheus text format, to `--metrics-from` and to loopback unless a
//!   trusted proxy is there (then its requests are its clients'), nothing else.
//! * `GET /api/openapi.json` — this API as OpenAPI 3.1.
//!
//! Modules: `api` (the handlers), `checks` (running checks: merged, bounded, cancelled when
//! abandoned), `clients` (who a client is: /64 keys, trusted proxies, quotas, cross-site
//! requests), `connections` (the accept loop and its caps), `headers` (CSP and isolation
//! headers by route), `csp`, `health` (`/healthz`: 503 while the store does not answer), `snapshots` (SQLite), `webapp` (the built app, in memory),
//! `watches` (watched domains: store, schedule, notifications, endpoints), `notify` (webhook
//! and mail delivery), `history` (history API, Atom feed), `tls_reports` (TLS-RPT reports
//! received), `metrics`.

pub mod about;
pub mod api;
pub mod batches;
pub mod budget;
pub mod checks;
pub mod clients;
pub mod clock;
pub mod cluster;
pub mod connections;
pub mod csp;
pub mod headers;
pub mod health;
pub mod history;
pub mod ids;
pub mod log;
pub mod metrics;
pub mod never_probe;
pub mod notify;
mod outage;
pub mod runner;
pub mod sender_test;
pub mod snapshots;
pub mod store;
pub mod tls_reports;
pub mod watches;
pub mod webapp;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::routing::get;
use mxtls_core::api::Examples;

pub use clients::{Cidr, TrustedProxies};
pub use connections::ConnectionLimits;
use snapshots::Store;

/// The OpenAPI document of the API, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What `mxtls serve` was asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The built web app (Trunk's `dist/`).
    pub web_dir: PathBuf,
    /// The store: a SQLite file's path (the default), or a `postgres://` URL shared by every
    /// instance of a cluster.
    pub db: String,
    /// How checks are run (the target policy stays on unless the test flag says otherwise).
    pub probe: mxtls_probe::Config,
    /// Domains the home page lists as examples (the test world's scenarios in the demo).
    pub examples: Vec<String>,
    /// Reverse proxies whose forwarding headers name the client (`--trusted-proxy`).
    pub trusted_proxies: TrustedProxies,
    /// The address people reach the server at, for links in mail and webhooks
    /// (`--public-url`; default `http://<listen>`).
    pub public_url: Option<String>,
    /// How watched domains are re-checked.
    pub watch: watches::WatchLimits,
    /// Where notifications may go, and the mail relay.
    pub delivery: notify::Delivery,
    /// Take TLS-RPT reports at `/tlsrpt/{domain}` for every domain, not only watched ones
    /// (`--accept-tls-rpt`, for a checker that serves its own domains).
    pub accept_tls_rpt_for_all: bool,
    /// Address blocks that may read `/metrics` (`--metrics-from`), besides loopback where no
    /// trusted proxy covers it.
    pub metrics_from: Vec<Cidr>,
    /// Whether checks are jobs of a cluster (PostgreSQL), and whether this instance probes.
    pub cluster: ClusterMode,
    /// How the server protects the servers it probes, and itself.
    pub limits: Limits,
    /// What `/about/probe` tells postmasters: the contact and the per-address budget.
    pub operator: about::Operator,
    /// The sender test's receivers and zone (`--sender-test ZONE`), if this instance runs it.
    pub sender_test: Option<sender_test::Settings>,
    /// Operators' API tokens for batches (`--batch-token NAME=TOKEN`): none, no batches.
    pub batch_tokens: Vec<(String, String)>,
}

impl Default for Config {
    /// A single instance on `127.0.0.1:8080` with the SQLite file `mxtls.sqlite`, the web app
    /// in `dist/`, the probe's and the limits' defaults: what `mxtls serve` does without flags.
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            web_dir: PathBuf::from("dist"),
            db: "mxtls.sqlite".into(),
            probe: mxtls_probe::Config::default(),
            examples: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            public_url: None,
            watch: watches::WatchLimits::default(),
            delivery: notify::Delivery {
                allow_private_targets: false,
                smtp_relay: None,
                mail_from: "mxtls@localhost".into(),
            },
            accept_tls_rpt_for_all: false,
            metrics_from: Vec::new(),
            cluster: ClusterMode::Single,
            limits: Limits::default(),
            operator: about::Operator::default(),
            sender_test: None,
            batch_tokens: Vec::new(),
        }
    }
}

/// How `mxtls serve` runs checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ClusterMode {
    /// In this process, through the checks hub (one instance; any store).
    #[default]
    Single,
    /// As jobs in the PostgreSQL store, joined and followed from any instance; `probe`:
    /// this instance also runs jobs (unless `--no-probe`), as `worker`.
    Cluster {
        probe: bool,
        worker: cluster::WorkerConfig,
    },
}

/// How the server protects the servers it probes (and itself).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Checks one client may start per minute.
    pub per_client_per_minute: u32,
    /// Checks running at once, across all clients.
    pub max_concurrent_checks: usize,
    /// Checks one client may watch at once (started or joined).
    pub per_client_concurrent_checks: usize,
    /// A snapshot of the same domain younger than this is served instead of probing again.
    pub reuse: Duration,
    /// How long a check whose every listener has gone may still run to finish; after that it
    /// is cancelled and its slot freed.
    pub abandon_grace: Duration,
    /// The connection caps and deadlines.
    pub connections: ConnectionLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_client_per_minute: 6,
            max_concurrent_checks: 8,
            per_client_concurrent_checks: 2,
            reuse: Duration::from_secs(60),
            abandon_grace: Duration::from_secs(2),
            connections: ConnectionLimits::default(),
        }
    }
}

/// Shared state of the handlers.
pub struct App {
    pub store: Arc<Store>,
    pub examples: Vec<String>,
    pub probe: mxtls_probe::Config,
    pub limits: Limits,
    pub proxies: TrustedProxies,
    /// The checks running now.
    pub checks: Arc<checks::Checks>,
    /// The counters of `/metrics` (shared with `checks`).
    pub metrics: Arc<metrics::Metrics>,
    pub watch: watches::WatchLimits,
    pub delivery: notify::Delivery,
    /// The base of links in notifications and feeds.
    pub public_url: String,
    pub accept_tls_rpt_for_all: bool,
    pub metrics_from: Vec<Cidr>,
    /// Where checks run: the hub above, or a cluster's jobs (`ClusterMode::Cluster`).
    pub runner: runner::Runner,
    /// `/healthz`'s last look at the store.
    pub health: health::Health,
    /// What `/about/probe` says besides the probe's own settings.
    pub operator: about::Operator,
    /// The sender test, where this instance runs it.
    pub sender_test: Option<Arc<sender_test::SenderTests>>,
    /// Operators and their API tokens for batches.
    pub batch_tokens: Vec<(String, String)>,
}

impl App {
    pub fn new(store: Store, probe: mxtls_probe::Config, limits: Limits) -> App {
        App::new_shared(Arc::new(store), probe, limits)
    }

    /// [`App::new`] with a store shared with others (the probe's reuse of sessions).
    pub fn new_shared(store: Arc<Store>, probe: mxtls_probe::Config, limits: Limits) -> App {
        let checks = checks::Checks::new(checks::HubLimits {
            max_concurrent_checks: limits.max_concurrent_checks,
            per_client_concurrent_checks: limits.per_client_concurrent_checks,
            per_client_per_minute: limits.per_client_per_minute,
            abandon_grace: limits.abandon_grace,
        });
        let delivery = notify::Delivery {
            allow_private_targets: probe.allow_private_targets,
            smtp_relay: None,
            mail_from: "mxtls@localhost".into(),
        };
        let runner = runner::Runner::hub(
            checks.clone(),
            probe.clone(),
            store.clone(),
            checks.metrics.clone(),
        );
        App {
            store,
            examples: Vec::new(),
            probe,
            limits,
            proxies: TrustedProxies::default(),
            metrics: checks.metrics.clone(),
            checks,
            watch: watches::WatchLimits::default(),
            delivery,
            public_url: "http://localhost".into(),
            accept_tls_rpt_for_all: false,
            metrics_from: Vec::new(),
            runner,
            health: health::Health::default(),
            operator: about::Operator::default(),
            sender_test: None,
            batch_tokens: Vec::new(),
        }
    }
}

/// The application router, with the web app read from `config.web_dir`.
pub fn router(config: &Config, app: Arc<App>) -> Router {
    router_with(Arc::new(webapp::WebApp::load(&config.web_dir)), app)
}

/// The application router serving the loaded `web` app.
pub fn router_with(web: Arc<webapp::WebApp>, app: Arc<App>) -> Router {
    let policies = Arc::new(headers::Policies::new(&web.index()));
    // The server-rendered pages (the watch pages) link the app's stylesheet.
    let style = watches::page::Style(web.stylesheet());
    let compressed = || tower_http::compression::CompressionLayer::new();
    // Static files are compressed (brotli or gzip, as the browser accepts); the event stream
    // is not, so its events are never held back in a compressor's buffer.
    let static_files = get(
        |State(web): State<Arc<webapp::WebApp>>, request: axum::extract::Request| async move {
            web.get(request.uri().path(), request.headers())
        },
    )
    .with_state(web)
    .layer(compressed());
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/about/probe", get(about::probe_page))
        .route("/api/check/{domain}", get(api::check))
        .route(
            "/api/snapshots/{id}",
            get(api::snapshot).layer(compressed()),
        )
        .route(
            "/api/domains/{domain}/latest",
            get(api::latest).layer(compressed()),
        )
        .route("/api/roots", get(api::roots).layer(compressed()))
        .route(
            "/api/examples",
            get(|State(app): State<Arc<App>>| async move {
                axum::Json(Examples {
                    examples: app.examples.clone(),
                })
            }),
        )
        .route("/badge/{file}", get(api::badge))
        .route(
            "/api/domains/{domain}/history",
            get(history::history).layer(compressed()),
        )
        .route(
            "/d/{domain}/feed.atom",
            get(history::feed).layer(compressed()),
        )
        .route("/api/watches", axum::routing::post(watches::api::create))
        .route(
            "/api/watches/{id}",
            axum::routing::delete(watches::api::delete),
        )
        .route(
            "/api/watches/{id}/confirm",
            get(watches::api::confirm_page).post(watches::api::confirm),
        )
        .route(
            "/api/watches/{id}/unsubscribe",
            get(watches::page::unsubscribe_page).post(watches::page::unsubscribe),
        )
        .route(
            "/d/{domain}/watch",
            get(watches::page::show).post(watches::page::submit),
        )
        .route(
            "/api/sender-tests",
            axum::routing::post(sender_test::api::start),
        )
        .route("/api/sender-tests/{token}", get(sender_test::api::show))
        .route(
            "/api/batches",
            axum::routing::post(batches::api::create)
                .layer(axum::extract::DefaultBodyLimit::max(batches::api::MAX_BODY)),
        )
        .route("/api/batches/{id}", get(batches::api::show))
        .route("/api/batches/{id}/results", get(batches::api::results))
        .route("/api/batches/{id}/portfolio", get(batches::api::portfolio))
        .route("/metrics", get(metrics_text))
        .route(
            "/tlsrpt/{domain}",
            axum::routing::post(tls_reports::receive)
                .layer(axum::extract::DefaultBodyLimit::max(tls_reports::MAX_BODY)),
        )
        .route(
            "/api/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .layer(axum::Extension(style))
        .with_state(app)
        .fallback(static_files)
        .layer(axum::middleware::from_fn(move |req, next| {
            headers::apply(policies.clone(), req, next)
        }))
}

/// `/metrics`: the counters and gauges (the watched domains' states are read from the store).
async fn metrics_text(
    State(app): State<Arc<App>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // The watched domains and their states are the watchers' business: only loopback (when
    // no trusted proxy is there) and the `--metrics-from` blocks may read them.
    if !clients::may_read_metrics(&app.proxies, &app.metrics_from, peer.ip(), &headers) {
        return api::json_error(
            axum::http::StatusCode::FORBIDDEN,
            "metrics are served to loopback and --metrics-from addresses only",
        );
    }
    let (watches, domains) = app.store.watched_states().await.unwrap_or_default();
    let load = app.runner.load().await;
    let body = app
        .metrics
        .render(load.running, load.free, watches, &domains);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Starts the watcher and the delivery of its notices (`watches::outbox`) for the life of
/// the runtime; aborting the handles stops both (a test's "instance" going away).
pub fn start_watcher(app: &Arc<App>) -> Vec<tokio::task::AbortHandle> {
    let watcher = watches::Watcher::new(&app.watch);
    let mut tasks = vec![
        tokio::spawn(watcher.run(app.clone())).abort_handle(),
        tokio::spawn(watches::outbox::deliver_forever(app.clone())).abort_handle(),
    ];
    // Batch items are checked by the instances that take batches (in a cluster each item is
    // claimed in the store, so several share a batch).
    if !app.batch_tokens.is_empty() {
        tasks.push(tokio::spawn(batches::work_forever(app.clone())).abort_handle());
    }
    tasks
}

/// `db` with any password in a URL replaced by `***` — in the userinfo
/// (`postgres://user:pw@host`) and in the query (`?password=pw`, libpq's form) — for logs
/// and `mxtls serve --print-config`.
pub fn redact(db: &str) -> String {
    let db = match (db.find("://"), db.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &db[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &db[..scheme + 3], &db[at..]),
                None => db.to_owned(),
            }
        }
        _ => db.to_owned(),
    };
    match db.split_once('?') {
        Some((base, query)) => {
            let parts: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            format!("{base}?{}", parts.join("&"))
        }
        None => db,
    }
}

/// What `mxtls serve` runs, built from its [`Config`]: the store opened and migrated, the
/// probe wired to it, the check runner (the hub, or the cluster's jobs and, unless
/// `--no-probe`, a worker in this process), the web app, and the watcher. The tests build
/// and run the same thing; one that brings its own store or probe hands in an [`App`]
/// ([`Server::with_app`]), and then starts the watcher itself if it wants one.
pub struct Server {
    app: Arc<App>,
    web: Arc<webapp::WebApp>,
    watcher: bool,
    /// This instance's worker of a cluster: told to stop, and awaited, on shutdown.
    worker: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
    /// How long a stop waits for running checks (the check timeout and a margin).
    grace: Duration,
    /// The sender test's receivers, bound at build time, served while the server runs.
    receivers: Option<Receivers>,
}

/// The sender test's listeners and TLS, ready to serve.
struct Receivers {
    listeners: Vec<(mxtls_core::sender_test::Case, tokio::net::TcpListener)>,
    tls: Arc<rustls::ServerConfig>,
}

impl Server {
    pub async fn build(config: Config) -> std::io::Result<Server> {
        let store = Store::connect(&config.db).await.map_err(|e| {
            std::io::Error::other(format!("the store ({}): {e}", redact(&config.db)))
        })?;
        crate::say!("store: {} ({})", store.engine(), redact(&config.db));
        let mut probe = config.probe.clone();
        let store = Arc::new(store);
        if !probe.reuse_max_age.is_zero() || probe.posture.ask {
            probe.reuse = Some(Arc::new(budget::StoreRecent {
                store: store.clone(),
                max_age: probe.reuse_max_age,
            }));
        }
        let mut app = App::new_shared(store, probe, config.limits.clone());
        app.examples = config.examples.clone();
        app.proxies = config.trusted_proxies.clone();
        app.watch = config.watch.clone();
        app.delivery = config.delivery.clone();
        app.accept_tls_rpt_for_all = config.accept_tls_rpt_for_all;
        app.metrics_from = config.metrics_from.clone();
        app.operator = config.operator.clone();
        app.batch_tokens = config.batch_tokens.clone();
        if !app.batch_tokens.is_empty() && config.probe.reuse_max_age.is_zero() {
            crate::say!(
                "batches: without --target-reuse, domains on one mail server wait for its \
                 budget instead of sharing its sessions"
            );
        }
        let mut receivers = None;
        if let Some(settings) = &config.sender_test {
            let tls = sender_test::receiver::tls_config(settings).map_err(std::io::Error::other)?;
            let listeners = sender_test::receiver::bind(settings).await?;
            crate::say!(
                "sender test: {} test domains under {}, receivers on {}",
                listeners.len(),
                settings.zone,
                settings
                    .listen
                    .iter()
                    .map(|(_, a)| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            app.sender_test = Some(Arc::new(sender_test::SenderTests::new(
                settings.clone(),
                app.store.clone(),
                config.probe.clone(),
            )));
            receivers = Some(Receivers { listeners, tls });
        }
        app.public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.listen));
        let mut worker_task = None;
        if let ClusterMode::Cluster { probe, worker } = &config.cluster {
            // A job is followed for as long as three attempts of a check may take.
            let follow = config.probe.timeout.min(mxtls_probe::check::MAX_TIMEOUT) * 3
                + Duration::from_secs(60);
            let cluster = cluster::Cluster::start(app.store.clone(), follow)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            app.runner = runner::Runner::cluster(cluster, app.limits.clone(), app.metrics.clone());
            // This instance's opt-out file is the cluster's, whether or not it probes.
            if config.probe.never_probe.is_some() {
                let shared = never_probe::SharedOptOut::new(
                    app.store.clone(),
                    config.probe.never_probe.clone(),
                );
                tokio::spawn(never_probe::publish_forever(Arc::new(shared)));
            }
            if *probe {
                let (store, probe) = (app.store.clone(), config.probe.clone());
                let worker = worker.clone();
                crate::say!("probing jobs here as worker {}", worker.name);
                let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
                let stop = async move {
                    let _ = stop_rx.wait_for(|stop| *stop).await;
                };
                worker_task = Some((
                    stop_tx,
                    tokio::spawn(cluster::work(store, probe, worker, stop)),
                ));
            } else {
                crate::say!("--no-probe: jobs are probed by `mxtls worker` processes");
            }
        }
        let mut server = Server::with_app(&config, Arc::new(app));
        server.watcher = true;
        server.worker = worker_task;
        server.receivers = receivers;
        Ok(server)
    }

    /// A server around an `app` built by the caller, with `config`'s web app.
    pub fn with_app(config: &Config, app: Arc<App>) -> Server {
        let web = Arc::new(webapp::WebApp::load(&config.web_dir));
        if let Some(why) = &web.missing {
            crate::say!("warning: {why}");
        }
        let grace =
            config.probe.timeout.min(mxtls_probe::check::MAX_TIMEOUT) + Duration::from_secs(15);
        Server {
            app,
            web,
            watcher: false,
            worker: None,
            grace,
            receivers: None,
        }
    }

    /// The handlers' shared state: the store, the running checks, the metrics.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serves on `listener` until `shutdown` completes, with the connection limits of
    /// `app.limits`.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let _watching = self.watcher.then(|| start_watcher(&self.app));
        // The receivers stop with the server (the handle aborts them when dropped).
        let _receiving = match (self.receivers, self.app.sender_test.clone()) {
            (Some(r), Some(tests)) => {
                Some(AbortOnDrop(tokio::spawn(sender_test::receiver::serve(
                    tests,
                    r.listeners,
                    r.tls,
                    self.app.limits.connections.clone(),
                ))))
            }
            _ => None,
        };
        crate::say!(
            "{}",
            connections::describe(listener.local_addr()?, &self.app.limits.connections)
        );
        let (limits, proxies) = (
            self.app.limits.connections.clone(),
            self.app.proxies.clone(),
        );
        let app = self.app.clone();
        let router = router_with(self.web, self.app);
        let open = connections::serve(listener, router, limits, proxies, shutdown).await?;
        // Stopping: no new checks; those running finish within the grace, and their
        // listeners get the last events; then the store is flushed.
        app.runner.close();
        let until = tokio::time::Instant::now() + self.grace;
        crate::say!(
            "stopping: no new checks; waiting up to {} s for {} running here",
            self.grace.as_secs(),
            app.runner.running_here()
        );
        if let Some((stop, task)) = self.worker {
            let _ = stop.send(true);
            let _ = tokio::time::timeout_at(until, task).await;
        }
        while app.runner.running_here() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = app.runner.running_here();
        open.closed(Duration::from_secs(2)).await;
        if let Err(e) = app.store.flush().await {
            crate::say!("flushing the store: {e}");
        }
        if left > 0 {
            crate::say!("stopped with {left} checks unfinished (past the grace)");
        } else {
            crate::say!("stopped");
        }
        Ok(())
    }
}

/// A task that ends when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves until interrupted (Ctrl-C).
pub async fn serve(config: Config) -> std::io::Result<()> {
    let listen = config.listen;
    let server = Server::build(config).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    server.run(listener, stop_signal()).await
}

/// SIGTERM (a service manager, a container runtime) or SIGINT (Ctrl-C): the signal to stop
/// gracefully.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
