//! The web checker end to end in real headless Chromium: `mxtls serve`'s router on loopback,
//! probing the test world, driven by playwright-core (tests/browser/e2e.mjs). The script
//! checks a good and a broken scenario from the home page, follows the copied link, embeds
//! the widget in a page of another origin, fetches the badge and runs axe-core on every page;
//! it checks MTA-STS scenarios and their sender-outcome matrix, and a domain's history with a
//! change between two checks; it saves a screenshot of each page into `target/screenshots/`.
//! `links.mjs` (called by it) follows a shared link to an older check, meets the server's
//! limits on two more servers (a client's quota: 429; no free slot: 503) and the icon;
//! `watch.mjs` follows the report's, the history's and the widget's links to the watch page
//! and makes and ends a watch through its form.
//! Then `phone.mjs` opens every scenario's report, the widget, the history and the report
//! reader 390 px wide: nothing may stick out of the viewport, and axe stays clean; it
//! photographs the scenarios of `SHOWN` at 1280 and 390 px for issue 22's closing note.
//!
//! Needs the web app built into `dist/` and `npm ci` run in tests/browser (scripts/test.sh
//! does both).

use std::path::PathBuf;
use std::sync::Arc;

mod common;

use mxtls_server::{App, Config, Limits};
use mxtls_world::{Options, World};

/// A DANE-verified domain whose greeting comes after a second and a half, so that the live
/// progress is on screen long enough to be observed, however fast the machine.
const GOOD: &str = "slow-banner.test";
const BROKEN: &str = "tlsa-mismatch.test";
const STS_GOOD: &str = "sts-enforce.test";
const STS_BROKEN: &str = "sts-404.test";
/// A domain with two stored checks and a change between them (its mail server stops).
const HISTORY: &str = "rollover.test";

/// The scenarios photographed on the desktop and the phone (`scenario-<name>.png`,
/// `scenario-<name>-phone.png`): an enforced policy that misses an MX host, no STARTTLS, TLSA
/// in front of a broken STARTTLS, a server that never answers, a good and a bad MX host,
/// null MX and a TLSA mismatch.
const SHOWN: &[&str] = &[
    "sts-mx-not-listed",
    "no-starttls",
    "broken-handshake",
    "private-target",
    "two-mx",
    "null-mx",
    "tlsa-mismatch",
];

/// A domain the test never checks before the report reader does: its mail server offers no
/// STARTTLS, as the senders' reports say.
const CONFIRMED: &str = "no-starttls.test";

/// TLS-RPT reports for the report reader, written as Google and Microsoft write them: both
/// report `starttls-not-supported` at GOOD's MX host (Microsoft with its address), a file
/// that is no report, and Google's report for CONFIRMED. Returns the JSON file naming them.
fn report_files(world: &World) -> PathBuf {
    use mxtls_world::sender_reports::{google, microsoft_gz};
    let dir = world.dir.join("tls-rpt");
    std::fs::create_dir_all(&dir).expect("dir");
    let mx = |domain: &str| {
        let s = world
            .scenarios
            .iter()
            .find(|s| s.domain == domain)
            .expect("scenario");
        let (host, addresses) = s.hosts.first().expect("an MX host");
        (
            host.to_string(),
            addresses.first().expect("an address").to_string(),
        )
    };
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    let (host, ip) = mx(GOOD);
    let stripping = [
        write(
            "google.json",
            google(GOOD, &host, "starttls-not-supported", 12).as_bytes(),
        ),
        write(
            "microsoft.json.gz",
            &microsoft_gz(GOOD, &host, &ip, "starttls-not-supported", 9),
        ),
    ];
    let broken = write("broken.json", b"{\"organization-name\": \"Truncated");
    let (host, _) = mx(CONFIRMED);
    let confirmed = write(
        "confirmed.json",
        google(CONFIRMED, &host, "starttls-not-supported", 5).as_bytes(),
    );
    let list = dir.join("reports.json");
    let json = serde_json::json!({
        "stripping": stripping,
        "broken": broken,
        "confirmed": confirmed,
        "confirmedDomain": CONFIRMED,
    });
    std::fs::write(&list, json.to_string()).expect("write");
    list
}

/// The app served by a server of its own, with `limits`, on the store of `db`.
async fn limited(
    config: &Config,
    db: &common::TestDb,
    limits: Limits,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let mut app = App::new(db.open().await, config.probe.clone(), limits);
    app.examples = config.examples.clone();
    common::serve(config.clone(), Arc::new(app)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_checker_in_chromium() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let dist = root.join("dist");
    let script_dir = root.join("tests/browser");
    assert!(
        dist.join("index.html").exists(),
        "build the web app first: trunk build --release (scripts/test.sh does)"
    );
    assert!(
        script_dir.join("node_modules/playwright-core").exists(),
        "install the browser test tools: (cd tests/browser && npm ci) (scripts/setup.sh does)"
    );
    let world = World::start(Options {
        net: 60,
        smtp_port: 2560,
        postfix: false,
        banner_delay: std::time::Duration::from_millis(1500),
        ..Options::default()
    })
    .await
    .expect("world");
    let probe = common::world_probe(&world);
    let db = common::TestDb::new(&world.dir.join("snapshots.sqlite"));
    let examples: Vec<String> = world
        .scenarios
        .iter()
        .map(|s| s.domain.to_string())
        .collect();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        web_dir: dist,
        db: db.url.clone(),
        probe: probe.clone(),
        examples: examples.clone(),
        ..Config::default()
    };
    // Every scenario is checked (e2e.mjs, phone.mjs) by one client within a minute or two.
    let limits = Limits {
        per_client_per_minute: 200,
        ..Limits::default()
    };
    // A history with a change: rollover.test checked, its mail server stopped, checked again.
    let store = db.open().await;
    let name = mxtls_core::names::parse_user_domain(HISTORY).expect("domain");
    let before = mxtls_probe::check(&name, &probe, None)
        .await
        .expect("first check");
    store.put(&before).await.expect("stored");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(world.stop_smtp(HISTORY));
    let after = mxtls_probe::check(&name, &probe, None)
        .await
        .expect("second check");
    store.put(&after).await.expect("stored");
    drop(store);
    let mut app = App::new(db.open().await, probe, limits);
    app.examples = examples;
    // The watch page's form makes a webhook watch to a loopback address (tests/browser/watch.mjs).
    app.delivery.allow_private_targets = true;
    let app = Arc::new(app);
    let (addr, _server) = common::serve(config.clone(), app).await;
    // Two more servers on the same store, for the refusals (tests/browser/links.mjs): one
    // whose client may start one check a minute (429 with the minute's rest as Retry-After),
    // and one with no slot for any check (503, Retry-After 5), whose retries can be watched.
    let (quota, _quota_server) = limited(
        &config,
        &db,
        Limits {
            per_client_per_minute: 1,
            ..Limits::default()
        },
    )
    .await;
    let (busy, _busy_server) = limited(
        &config,
        &db,
        Limits {
            max_concurrent_checks: 0,
            ..Limits::default()
        },
    )
    .await;

    let shots = root.join("target/screenshots");
    let sts: Vec<serde_json::Value> = world
        .scenarios
        .iter()
        .filter(|s| s.scenario.sts.is_some())
        .map(|s| {
            serde_json::json!({
                "domain": s.domain,
                "codes": s.scenario.codes,
                "protection": s.scenario.protection,
            })
        })
        .collect();
    let sts_table = world.dir.join("sts-scenarios.json");
    std::fs::write(&sts_table, serde_json::to_vec(&sts).unwrap()).unwrap();
    let reports = report_files(&world);
    let base = format!("http://{addr}");
    let out = tokio::process::Command::new("node")
        .current_dir(&script_dir)
        .arg("e2e.mjs")
        .args([base.as_str(), GOOD, BROKEN])
        .arg(&shots)
        .args([STS_GOOD, STS_BROKEN])
        .arg(&sts_table)
        .arg(HISTORY)
        .arg(&reports)
        .env("MXTLS_QUOTA_BASE", format!("http://{quota}"))
        .env("MXTLS_BUSY_BASE", format!("http://{busy}"))
        .kill_on_drop(true)
        .output();
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(std::time::Duration::from_secs(240), out)
        .await
        .expect("the browser tests finish within 4 minutes")
        .expect("node runs (scripts/setup.sh installs it)");
    let e2e_took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    println!("e2e.mjs took {:.1} s", e2e_took.as_secs_f64());
    if !out.status.success() {
        world.stop().await;
        panic!("browser tests failed:\n{stdout}\n{stderr}");
    }

    // Every page on a phone: the scenarios e2e.mjs checked are opened from their snapshots.
    // Its photographs are this run's, not an earlier run's left in the directory.
    let photographed: Vec<String> = SHOWN
        .iter()
        .chain(&["widget", "tls-rpt"])
        .flat_map(|name| {
            [
                format!("scenario-{name}.png"),
                format!("scenario-{name}-phone.png"),
            ]
        })
        .collect();
    for file in &photographed {
        let _ = std::fs::remove_file(shots.join(file));
    }
    let phone_table = world.dir.join("phone.json");
    // The scenarios whose name servers disagree: those the world pins an `ns-` finding for.
    let split: Vec<&str> = world
        .scenarios
        .iter()
        .filter(|s| s.scenario.codes.iter().any(|c| c.starts_with("ns-")))
        .map(|s| s.domain.as_str())
        .collect();
    let table = serde_json::json!({
        "domains": config.examples, "shown": SHOWN, "widget": GOOD, "split": split,
    });
    std::fs::write(&phone_table, table.to_string()).expect("write");
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new("node")
        .current_dir(&script_dir)
        .arg("phone.mjs")
        .arg(base.as_str())
        .arg(&shots)
        .arg(&phone_table)
        .arg(HISTORY)
        .arg(&reports)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), out)
        .await
        .expect("the phone tests finish within 3 minutes")
        .expect("node runs");
    let phone_took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    println!("phone.mjs took {:.1} s", phone_took.as_secs_f64());
    world.stop().await;
    assert!(
        out.status.success(),
        "phone tests failed:\n{stdout}\n{stderr}"
    );
    for page in [
        "home",
        "check-good",
        "check-broken",
        "snapshot",
        "widget",
        "widget-embedded",
        "history",
        "tls-rpt",
        "tls-rpt-confirmed",
        "snapshot-newer",
        "deferred",
        "watch",
        "watch-phone",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "screenshot {page}"
        );
    }
    for file in &photographed {
        assert!(shots.join(file).exists(), "screenshot {file}");
    }
}

/// The sender test page (tests/browser/send_test.mjs): started in the browser, followed
/// live while the script sends over a stripped STARTTLS and in cleartext, and on a shared
/// link at phone width.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_test_page_in_chromium() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let script_dir = root.join("tests/browser");
    let world = World::start(Options {
        net: 113,
        smtp_port: 2613,
        https_port: 4613,
        postfix: false,
        sender_test: true,
        ..Options::default()
    })
    .await
    .expect("world");
    let st = world.sender_test.clone().expect("the sender test's zone");
    let chain_pem = std::fs::read(&st.cert).expect("chain");
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<_, _>>()
        .expect("PEM chain");
    let key = PrivateKeyDer::from_pem_slice(&std::fs::read(&st.key).expect("key")).expect("key");
    let cases = mxtls_core::sender_test::Case::ALL;
    let db = common::TestDb::new(&world.dir.join("send-test.sqlite"));
    let config = Config {
        web_dir: root.join("dist"),
        probe: common::world_probe(&world),
        sender_test: Some(mxtls_server::sender_test::Settings {
            zone: mxtls_core::names::DnsName::parse(&st.zone).expect("zone"),
            listen: cases.into_iter().zip(st.listen.iter().copied()).collect(),
            chain,
            key: Arc::new(key),
            window: std::time::Duration::from_secs(600),
            published: Vec::new(),
        }),
        ..common::api_only(&db)
    };
    let (addr, _app) = common::start(config).await;
    let at = |label: &str| {
        let i = cases.iter().position(|c| c.label() == label).expect("case");
        st.listen[i].to_string()
    };
    let shots = root.join("target/screenshots");
    let out = tokio::process::Command::new("node")
        .current_dir(&script_dir)
        .arg("send_test.mjs")
        .arg(format!("http://{addr}"))
        .arg(&shots)
        .arg(at("starttls-stripped"))
        .arg(at("no-starttls"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out)
        .await
        .expect("the sender test page's tests finish within 2 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    world.stop().await;
    assert!(
        out.status.success(),
        "send_test.mjs failed:\n{stdout}\n{stderr}"
    );
    for shot in ["send-test.png", "send-test-phone.png"] {
        assert!(shots.join(shot).exists(), "screenshot {shot}");
    }
}

/// The portfolio page (`/b/<id>`) in Chromium (tests/browser/portfolio.mjs): two runs of one
/// list through the API — between them one mail server stops, one domain leaves the list
/// and one joins it — and eight tenants on one broken shared mail server. The page must ask
/// for the operator's token, show every state's count, the shared server's cause first,
/// exactly the changes, filter the table and link each domain's report, whose headline
/// (judged in the browser) is the row's answer; on a phone too, with axe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portfolio_page_in_chromium() {
    use mxtls_core::batch::portfolio::{self, Answer, Direction};
    const TOKEN: &str = "acme-portfolio-0123456789";
    const TENANTS: usize = 8;
    const SHARED: &str = "mx.tlsa-mismatch.test";
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let world = World::start(Options {
        net: 123,
        smtp_port: 2623,
        https_port: 4623,
        postfix: false,
        tenants: TENANTS,
        tenant_mx: Some("mx.tlsa-mismatch.test."),
        ..Options::default()
    })
    .await
    .expect("world");
    let db = common::TestDb::new(&world.dir.join("portfolio.sqlite"));
    let config = Config {
        web_dir: root.join("dist"),
        probe: common::world_probe(&world),
        batch_tokens: vec![("acme".into(), TOKEN.into())],
        ..common::api_only(&db)
    };
    let (addr, _app) = common::start(config).await;
    let list = |scenarios: &[&str]| {
        let mut domains: Vec<String> = scenarios.iter().map(|s| format!("{s}.test")).collect();
        domains.extend(mxtls_world::tenant_domains(TENANTS));
        serde_json::json!({"name": "weekly", "domains": domains}).to_string()
    };
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let run = |body: String| {
        let auth = auth.clone();
        async move {
            let made = common::post_with(
                addr,
                "/api/batches",
                "application/json",
                body.as_bytes(),
                &auth,
            )
            .await;
            assert_eq!(made.status, 201, "{}", made.body);
            let made: serde_json::Value = serde_json::from_str(&made.body).expect("JSON");
            let id = made["id"].as_str().expect("id").to_owned();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
            loop {
                let a = common::get(addr, &format!("/api/batches/{id}"), &auth).await;
                let p: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
                if p["done"] == p["total"] {
                    break id;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the batch did not end: {p}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    let common_part = [
        "dane-ee",
        "tlsa-mismatch",
        "sts-enforce",
        "no-starttls",
        "null-mx",
    ];
    let first: Vec<&str> = common_part.iter().copied().chain(["two-mx"]).collect();
    let second: Vec<&str> = common_part
        .iter()
        .copied()
        .chain(["broken-handshake"])
        .collect();
    run(list(&first)).await;
    assert!(
        world.stop_smtp("sts-enforce.test"),
        "sts-enforce's server stops"
    );
    let id = run(list(&second)).await;

    // What the page must show, from the API (the schema's `Portfolio`), held first against
    // the world: the shared server's cause on every tenant and on its own domain.
    let answer = common::get(addr, &format!("/api/batches/{id}/portfolio"), &auth).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer: Answer = serde_json::from_str(&answer.body).expect("a portfolio");
    assert_eq!(answer.runs.len(), 2);
    assert_eq!(answer.rows.len(), second.len() + TENANTS);
    let previous = answer.previous.as_ref().expect("the previous run");
    let causes = portfolio::causes(&answer.rows);
    let top = causes.first().expect("a cause");
    assert_eq!(top.host.as_deref(), Some(SHARED), "{causes:#?}");
    assert_eq!(top.domains.len(), TENANTS + 1, "{top:#?}");
    let changes = portfolio::changes(&previous.rows, &answer.rows, true);
    let moved = |domain: &str| changes.iter().find(|c| c.domain == domain);
    assert_eq!(
        moved("two-mx.test").map(|c| c.direction),
        Some(Direction::Gone)
    );
    assert_eq!(
        moved("broken-handshake.test").map(|c| c.direction),
        Some(Direction::New)
    );
    let sts = moved("sts-enforce.test").expect("sts-enforce changed");
    assert_eq!(sts.before.as_deref(), Some("protected"));
    assert_ne!(sts.after.as_deref(), Some("protected"));
    assert_eq!(changes.len(), 3, "nothing else changed: {changes:#?}");
    let expected = serde_json::json!({
        "counts": mxtls_core::batch::counts(&answer.rows),
        "top": { "host": SHARED, "code": top.code, "count": top.domains.len(), "domains": top.domains },
        "changes": changes.iter().map(|c| (c.domain.clone(), c.direction.id())).collect::<Vec<_>>(),
        "rows": answer.rows.iter().map(|r| (r.domain.clone(), r.status.clone(), r.answer.clone())).collect::<Vec<_>>(),
    });
    let expect_file = world.dir.join("portfolio-expected.json");
    std::fs::write(&expect_file, expected.to_string()).expect("write");

    let shots = root.join("target/screenshots");
    let out = tokio::process::Command::new("node")
        .current_dir(root.join("tests/browser"))
        .arg("portfolio.mjs")
        .arg(format!("http://{addr}"))
        .arg(&shots)
        .arg(&id)
        .arg(TOKEN)
        .arg(&expect_file)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out)
        .await
        .expect("the portfolio page's tests finish within 2 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    world.stop().await;
    assert!(
        out.status.success(),
        "portfolio.mjs failed:\n{stdout}\n{stderr}"
    );
    for shot in ["portfolio.png", "portfolio-phone.png"] {
        assert!(shots.join(shot).exists(), "screenshot {shot}");
    }
}
