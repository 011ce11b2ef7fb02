//! TLS-RPT reports received (`POST /tlsrpt/{domain}`), over real HTTP on loopback: reports
//! without a `report-id` are told apart by content, a large report is stored in a bounded
//! form that judges the same as the whole, and the per-client limit and the notification
//! bound are counted in the store, so they hold across the instances of a cluster (two apps
//! on one PostgreSQL with `MXTLS_TEST_STORE=postgres`).

use std::fmt::Write as _;
use std::sync::Arc;

use mxtls_core::Evidence;
use mxtls_server::tls_reports::bounded::MAX_STORED_REPORT;
use mxtls_server::{App, Config};

mod common;

const EVIDENCE: &str = include_str!("../../mxtls-core/tests/fixtures/evidence-v1.json");

/// A server that takes reports for every domain, on `store`.
async fn server(db: &common::TestDb) -> (std::net::SocketAddr, Arc<App>) {
    common::start(Config {
        accept_tls_rpt_for_all: true,
        ..common::api_only(db)
    })
    .await
}

/// A report of `org` about example.org without a `report-id`, `failed` sessions failing.
fn without_id(org: &str, failed: u64) -> String {
    format!(
        r#"{{"organization-name":"{org}","date-range":{{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"}},"policies":[{{"policy":{{"policy-type":"no-policy-found","policy-domain":"example.org"}},"summary":{{"total-successful-session-count":40,"total-failure-session-count":{failed}}},"failure-details":[{{"result-type":"starttls-not-supported","sending-mta-ip":"192.0.2.99","receiving-mx-hostname":"mx.example.org","failed-session-count":{failed}}}]}}]}}"#
    )
}

/// The reports stored for example.org: (report id, stored bytes).
async fn rows(app: &App) -> Vec<(String, usize)> {
    app.store
        .query(
            "SELECT report_id, report FROM tls_reports WHERE domain = ?1 ORDER BY report_id",
            vec!["example.org".into()],
        )
        .await
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r.text("report_id").expect("id"),
                r.text("report").expect("report").len(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_without_an_id_are_told_apart_by_content() {
    let db = common::TestDb::memory();
    let (addr, app) = server(&db).await;
    let post = |body: String| async move {
        common::post_bytes(
            addr,
            "/tlsrpt/example.org",
            "application/tlsrpt+json",
            body.as_bytes(),
        )
        .await
    };
    let first = post(without_id("Mail Co", 3)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(first.body.contains(r#""stored":true"#), "{}", first.body);
    let other = post(without_id("Mail Co", 4)).await;
    assert!(other.body.contains(r#""stored":true"#), "{}", other.body);
    // The same content again, gzipped and with other whitespace: the same report.
    let again = common::post_bytes(
        addr,
        "/tlsrpt/example.org",
        "application/tlsrpt+gzip",
        &mxtls_world::sender_reports::gzip(without_id("Mail Co", 3).replace(',', ", ").as_bytes()),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert!(again.body.contains(r#""stored":false"#), "{}", again.body);
    let stored = rows(&app).await;
    println!("rows: {stored:?}");
    assert_eq!(stored.len(), 2, "two contents, two rows: {stored:?}");
    assert!(
        stored
            .iter()
            .all(|(id, _)| id.starts_with("sha256:") && id.len() == 71)
    );
    let reports = app
        .store
        .tls_reports("example.org", 10)
        .await
        .expect("reports");
    let mut failed: Vec<u64> = reports.iter().map(|r| r.policies[0].failed).collect();
    failed.sort();
    assert_eq!(failed, [3, 4]);
}

/// A report as a big sender with many sending addresses might write it: `policies` policies
/// of every type, each with `details` failure details over 4 result types × 2 hosts (by
/// name and address) × 5 sending addresses, each detail with its own HELO, reason code and
/// free text (what makes such reports large).
fn large_report(policies: usize, details: usize) -> String {
    let types = ["sts", "tlsa", "no-policy-found"];
    let results = [
        "starttls-not-supported",
        "certificate-expired",
        "validation-failure",
        "sts-policy-fetch-error",
    ];
    let hosts = [
        ("mx.example.org", "192.0.2.25"),
        ("mx2.example.org", "192.0.2.26"),
    ];
    let mut out = String::from(
        r#"{"organization-name":"Big Sender","date-range":{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"},"contact-info":"tls@big.example","report-id":"big-1","policies":["#,
    );
    let mut n: u64 = 0;
    for p in 0..policies {
        if p > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"policy":{{"policy-type":"{}","policy-string":["version: STSv1","mode: testing","mx: mx.example.org","max_age: {p}"],"policy-domain":"example.org","mx-host":["mx.example.org","mx2.example.org"]}},"summary":{{"total-successful-session-count":{},"total-failure-session-count":{}}},"failure-details":["#,
            types[p % types.len()],
            1000 + p,
            details
        );
        for d in 0..details {
            n += 1;
            // A digest-like text per detail, so that the report does not compress to nothing.
            let noise = (0..6).fold(String::new(), |mut s, i| {
                let _ = write!(
                    s,
                    "{:016x}",
                    n.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(i * 11)
                );
                s
            });
            let (host, ip) = hosts[(d / 5) % 2];
            let _ = write!(
                out,
                r#"{}{{"result-type":"{}","sending-mta-ip":"203.0.113.{}","receiving-mx-hostname":"{host}","receiving-ip":"{ip}","receiving-mx-helo":"helo-{n}.example.org","failed-session-count":1,"failure-reason-code":"X{n}","additional-information":"https://big.example/tls/{noise}"}}"#,
                if d > 0 { "," } else { "" },
                results[(d / 10) % results.len()],
                d % 5 + 1,
            );
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_report_is_stored_bounded_and_judged_the_same() {
    let db = common::TestDb::memory();
    let (addr, app) = server(&db).await;
    let json = large_report(6, 1500);
    let gz = mxtls_world::sender_reports::gzip(json.as_bytes());
    println!(
        "report: {} KB of JSON, {} KB gzipped",
        json.len() / 1024,
        gz.len() / 1024
    );
    assert!(
        (300 * 1024..mxtls_server::tls_reports::MAX_BODY).contains(&gz.len()),
        "several hundred KB gzipped, within the body limit: {}",
        gz.len()
    );
    let a = common::post_bytes(addr, "/tlsrpt/example.org", "application/tlsrpt+gzip", &gz).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(a.body.contains(r#""stored":true"#), "{}", a.body);
    let stored = rows(&app).await;
    println!("rows: {stored:?}");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, "big-1");
    assert!(
        stored[0].1 <= MAX_STORED_REPORT,
        "the row is bounded: {} bytes",
        stored[0].1
    );

    let full = mxtls_core::tls_rpt::report::parse_bytes(&gz).expect("the report reads");
    let kept = app
        .store
        .tls_reports("example.org", 10)
        .await
        .expect("reports");
    assert_eq!(kept.len(), 1);
    let evidence = Evidence::from_json(EVIDENCE).expect("fixture");
    let report = mxtls_core::analyse(&evidence, evidence.probe.finished_at);
    let whole =
        mxtls_core::analysis::judge_reports(std::slice::from_ref(&full), &evidence, &report);
    let bounded = mxtls_core::analysis::judge_reports(&kept, &evidence, &report);
    for f in &whole {
        println!("{} {}: {}", f.code, f.subject, f.explanation);
    }
    let codes: Vec<String> = whole.iter().map(|f| f.code.to_string()).collect();
    assert_eq!(
        codes,
        [
            "tlsrpt-stripping-on-path",
            "tlsrpt-unknown-mx",
            "tlsrpt-failure-not-seen",
            "tlsrpt-unknown-mx",
            "tlsrpt-failure-confirmed",
            "tlsrpt-unknown-mx",
            "tlsrpt-failure-not-seen",
            "tlsrpt-unknown-mx",
        ],
        "4 result types at 2 places"
    );
    assert!(
        whole.iter().any(|f| f.explanation.contains("and 2 more")),
        "the senders beyond three are counted"
    );
    assert_eq!(bounded, whole, "the stored form judges as the whole report");
    // The history lists the same sessions.
    let sum = |r: &mxtls_core::tls_rpt::report::AggregateReport| -> (u64, u64) {
        (
            r.policies.iter().map(|p| p.successful).sum(),
            r.policies.iter().map(|p| p.failed).sum(),
        )
    };
    assert_eq!(sum(&kept[0]), sum(&full));
    let h = common::get(addr, "/api/domains/example.org/history", "").await;
    assert_eq!(h.status, 200);
    assert!(
        h.body.contains(r#""organization":"Big Sender""#),
        "{}",
        h.body
    );
    assert!(h.body.contains(r#""failed":9000"#), "{}", h.body);
}

/// Ten posts a minute per client, counted in the store: spent across both apps (two
/// instances of a cluster on one PostgreSQL; one app on SQLite, whose store no other
/// instance shares), then refused on either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_client_limit_holds_across_instances() {
    let db = common::TestDb::memory();
    let (one, app) = server(&db).await;
    let two = if app.store.engine() == "postgres" {
        server(&db).await.0
    } else {
        one
    };
    let mut statuses = Vec::new();
    for i in 0..12 {
        let to = if i % 2 == 0 { one } else { two };
        let a = common::post_bytes(
            to,
            "/tlsrpt/example.org",
            "application/tlsrpt+json",
            without_id(&format!("Org {i}"), 1).as_bytes(),
        )
        .await;
        if a.status == 429 {
            assert!(a.head.contains("retry-after: "), "{}", a.head);
        }
        statuses.push(a.status);
    }
    assert_eq!(
        statuses,
        [201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 429, 429]
    );
    assert_eq!(rows(&app).await.len(), 10, "refused posts store nothing");
}

/// One notification per watch an hour, taken in one statement: a second instance asking
/// within the hour is refused, another watch is not, and an hour later it is allowed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_report_notice_per_watch_an_hour_across_instances() {
    let db = common::TestDb::memory();
    let a = db.open().await;
    let b = if a.engine() == "postgres" {
        Some(db.open().await)
    } else {
        None
    };
    let b = b.as_ref().unwrap_or(&a);
    let t = 1_800_000_000;
    assert!(a.claim_report_notice("w1", t).await.expect("claim"));
    assert!(!b.claim_report_notice("w1", t + 10).await.expect("claim"));
    assert!(b.claim_report_notice("w2", t + 10).await.expect("claim"));
    assert!(!a.claim_report_notice("w1", t + 3599).await.expect("claim"));
    assert!(b.claim_report_notice("w1", t + 3600).await.expect("claim"));
    assert!(!a.claim_report_notice("w1", t + 3601).await.expect("claim"));
}
