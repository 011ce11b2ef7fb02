//! Batches through the API (`POST /api/batches`, `GET /api/batches/{id}`, its results as JSON
//! lines and CSV), on the server `mxtls serve` runs (`Server::build`), on SQLite or
//! PostgreSQL (`MXTLS_TEST_STORE`): an operator's token is needed and another's sees
//! nothing; every scenario's row carries exactly the finding codes the scenario table pins;
//! tenants on one shared mail server reuse its sessions; an entry that is not a domain is an
//! `error` row in its place.

use std::time::Duration;

use mxtls_server::Config;
use mxtls_world::scenarios::SCENARIOS;
use mxtls_world::{Options, World};

mod common;

const TOKEN: &str = "acme-0123456789abcdef";
const OTHER: &str = "other-0123456789abcdef";
const TENANTS: usize = 10;
/// Scenarios whose checks end quickly (the rest are `mxtls batch`'s test, crates/mxtls).
const SHOWN: &[&str] = &[
    "dane-ee",
    "tlsa-mismatch",
    "no-starttls",
    "sts-enforce",
    "two-mx",
    "null-mx",
    "broken-handshake",
];

async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> common::Answer {
    let auth = if token.is_empty() {
        String::new()
    } else {
        format!("Authorization: Bearer {token}\r\n")
    };
    if method == "POST" {
        common::post_with(addr, path, "application/json", body.as_bytes(), &auth).await
    } else {
        common::get(addr, path, &auth).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_batch_is_checked_and_its_results_kept() {
    let world = World::start(Options {
        net: 116,
        smtp_port: 2616,
        https_port: 4616,
        postfix: false,
        tenants: TENANTS,
        banner_delay: Duration::from_millis(500),
        ..Options::default()
    })
    .await
    .expect("the world starts");
    let db = common::TestDb::new(&world.dir.join("batches.sqlite"));
    let mut probe = common::world_probe(&world);
    probe.budget = Some(std::sync::Arc::new(mxtls_probe::budget::LocalBudget::new(
        6,
        Duration::from_secs(60),
    )));
    probe.reuse_max_age = Duration::from_secs(600);
    let config = Config {
        probe,
        batch_tokens: vec![
            ("acme".into(), TOKEN.into()),
            ("other".into(), OTHER.into()),
        ],
        ..common::api_only(&db)
    };
    let (addr, _app) = common::start(config).await;

    let scenarios: Vec<&mxtls_world::scenarios::Scenario> = SCENARIOS
        .iter()
        .filter(|s| SHOWN.contains(&s.name))
        .collect();
    assert_eq!(scenarios.len(), SHOWN.len());
    let mut domains: Vec<String> = scenarios.iter().map(|s| s.domain()).collect();
    domains.push("not a domain!".into());
    domains.extend(mxtls_world::tenant_domains(TENANTS));
    let body = serde_json::json!({"name": "portfolio", "domains": domains}).to_string();

    // No token, a wrong one, an empty list: refused, and nothing made.
    assert_eq!(
        call(addr, "POST", "/api/batches", "", &body).await.status,
        401
    );
    assert_eq!(
        call(
            addr,
            "POST",
            "/api/batches",
            "wrong-0123456789abcdef",
            &body
        )
        .await
        .status,
        401
    );
    let empty = call(
        addr,
        "POST",
        "/api/batches",
        TOKEN,
        r#"{"name":"x","domains":[]}"#,
    )
    .await;
    assert_eq!(empty.status, 400, "{}", empty.body);

    let made = call(addr, "POST", "/api/batches", TOKEN, &body).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let made: serde_json::Value = serde_json::from_str(&made.body).expect("JSON");
    let id = made["id"].as_str().expect("an id").to_owned();
    assert_eq!(made["total"], domains.len() as i64);
    // Another operator's token does not see it.
    let theirs = call(addr, "GET", &format!("/api/batches/{id}"), OTHER, "").await;
    assert_eq!(theirs.status, 404);

    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let progress: serde_json::Value = loop {
        let a = call(addr, "GET", &format!("/api/batches/{id}"), TOKEN, "").await;
        let p: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
        if p["done"] == p["total"] {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the batch did not end: {p:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let counts = progress["counts"].as_array().expect("counts");
    let errors = counts
        .iter()
        .find(|c| c[0] == "error")
        .and_then(|c| c[1].as_i64());
    assert_eq!(errors, Some(1), "{progress:#}");

    let results = call(
        addr,
        "GET",
        &format!("/api/batches/{id}/results"),
        TOKEN,
        "",
    )
    .await;
    assert_eq!(results.status, 200);
    assert!(
        results.head.contains("application/x-ndjson"),
        "{}",
        results.head
    );
    let rows: Vec<serde_json::Value> = results
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), domains.len());
    let mut problems = Vec::new();
    for (s, row) in scenarios.iter().zip(&rows) {
        assert_eq!(row["domain"], s.domain().as_str(), "the file's order");
        let mut codes: Vec<String> = row["codes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        codes.sort();
        codes.dedup();
        if codes != s.codes {
            problems.push(format!("{}: codes {codes:?}, want {:?}", s.name, s.codes));
        }
        if row["snapshot"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{}: no snapshot", s.name));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(rows[scenarios.len()]["status"], "error");
    let tenants = &rows[scenarios.len() + 1..];
    let reused = tenants
        .iter()
        .filter(|r| r["reused"].as_array().is_some_and(|a| !a.is_empty()))
        .count();
    assert!(
        reused >= TENANTS / 2,
        "only {reused} of {TENANTS} tenants reused sessions: {tenants:#?}"
    );

    let csv = call(
        addr,
        "GET",
        &format!("/api/batches/{id}/results?format=csv"),
        TOKEN,
        "",
    )
    .await;
    assert!(csv.head.contains("text/csv"), "{}", csv.head);
    let mut lines = csv.body.lines();
    assert_eq!(lines.next(), Some(mxtls_core::batch::CSV_HEADER));
    assert_eq!(lines.count(), domains.len());

    // A second run of the list (the same name), made at once: the portfolio knows the first
    // as its previous run, in order even within one second; another operator sees nothing.
    let again =
        serde_json::json!({"name": "portfolio", "domains": ["dane-ee.test", "null-mx.test"]});
    let made = call(addr, "POST", "/api/batches", TOKEN, &again.to_string()).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let second: serde_json::Value = serde_json::from_str(&made.body).expect("JSON");
    let second = second["id"].as_str().expect("an id").to_owned();
    let path = format!("/api/batches/{second}/portfolio");
    assert_eq!(call(addr, "GET", &path, OTHER, "").await.status, 404);
    assert_eq!(call(addr, "GET", &path, "", "").await.status, 401);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let portfolio = loop {
        let a = call(addr, "GET", &path, TOKEN, "").await;
        assert_eq!(a.status, 200, "{}", a.body);
        let p: mxtls_core::batch::portfolio::Answer =
            serde_json::from_str(&a.body).expect("a portfolio");
        if p.batch.complete() {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second run did not end"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let runs: Vec<&str> = portfolio.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(runs, [id.as_str(), second.as_str()]);
    let previous = portfolio.previous.as_ref().expect("the previous run");
    assert_eq!(previous.id, id);
    assert_eq!(previous.rows.len(), domains.len());
    assert_eq!(portfolio.rows.len(), 2);
    let changes = mxtls_core::batch::portfolio::changes(&previous.rows, &portfolio.rows, true);
    assert!(
        changes
            .iter()
            .all(|c| c.direction == mxtls_core::batch::portfolio::Direction::Gone),
        "the two domains checked again are as they were: {changes:#?}"
    );
    assert_eq!(changes.len(), domains.len() - 2);
    world.stop().await;
}
