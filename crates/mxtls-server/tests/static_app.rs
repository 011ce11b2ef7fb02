//! The server over real HTTP on loopback: health, static files, client-side routes.

use std::net::SocketAddr;

mod common;

async fn get(addr: SocketAddr, path: &str) -> common::Answer {
    common::get(addr, path, "").await
}

#[tokio::test]
async fn serves_health_app_and_client_routes() {
    let dir = std::env::temp_dir().join(format!("mxtls-server-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<html>mxtls app</html>").unwrap();
    std::fs::write(dir.join("app.js"), "console.log(1)").unwrap();
    // The report reader's own bundle, with its own inline bootstrap.
    std::fs::create_dir_all(dir.join("tls-rpt")).unwrap();
    std::fs::write(
        dir.join("tls-rpt/index.html"),
        "<html>report reader<script type=\"module\">start()</script></html>",
    )
    .unwrap();
    // A symlink planted in the web directory, pointing out of it, is never served.
    let secret = std::env::temp_dir().join(format!("mxtls-secret-{}", std::process::id()));
    std::fs::write(&secret, "SECRET-OUTSIDE-THE-APP").unwrap();
    let _ = std::fs::remove_file(dir.join("leak.txt"));
    std::os::unix::fs::symlink(&secret, dir.join("leak.txt")).unwrap();
    let db = common::TestDb::memory();
    let config = mxtls_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        web_dir: dir.clone(),
        db: db.url.clone(),
        probe: mxtls_probe::Config::default(),
        ..mxtls_server::Config::default()
    };
    let app = std::sync::Arc::new(mxtls_server::App::new(
        db.open().await,
        config.probe.clone(),
        mxtls_server::Limits::default(),
    ));
    let (addr, _server) = common::serve(config, app).await;

    let health = get(addr, "/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));

    let js = get(addr, "/app.js").await;
    assert!(js.body.contains("console.log(1)"));
    assert!(js.head.contains("x-content-type-options: nosniff"));
    assert!(
        js.head.contains("content-type: text/javascript"),
        "{}",
        js.head
    );
    // Revalidation by ETag.
    let etag = js
        .head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .to_owned();
    let again = common::get(addr, "/app.js", &format!("If-None-Match: {etag}\r\n")).await;
    assert_eq!(again.status, 304);

    let leak = get(addr, "/leak.txt").await;
    assert!(
        !leak.body.contains("SECRET"),
        "a symlink was followed: {}",
        leak.body
    );
    assert_eq!(leak.status, 404, "served as an unknown path");
    let climb = get(addr, "/../../../../etc/passwd").await;
    assert!(!climb.body.contains("root:"), "{}", climb.body);
    std::fs::remove_file(&secret).ok();

    // The icon: linked by every page as /favicon.svg, and /favicon.ico, which browsers ask
    // for unbidden, is the same SVG — not a 404 (the app here was built without one).
    let ico = get(addr, "/favicon.ico").await;
    assert_eq!(ico.status, 200, "{}", ico.head);
    assert!(
        ico.head.contains("content-type: image/svg+xml"),
        "{}",
        ico.head
    );
    assert!(ico.body.starts_with("<svg "), "{}", ico.body);
    assert!(!ico.body.contains("mxtls app"), "not the app's page");
    let svg = get(addr, "/favicon.svg").await;
    assert_eq!((svg.status, svg.body.as_str()), (200, ico.body.as_str()));

    // An unknown path gets the app (its own "not found" page), with status 404.
    let unknown = get(addr, "/no/such/page").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("mxtls app"));

    // A client-side route falls back to the app.
    let route = get(addr, "/check/example.org").await;
    assert_eq!(route.status, 200, "{}", route.head);
    assert!(route.body.contains("mxtls app"));

    // Only the widget may be framed by other sites.
    assert!(
        route.head.contains("x-frame-options: deny"),
        "{}",
        route.head
    );
    assert!(
        route.head.contains("frame-ancestors 'none'"),
        "{}",
        route.head
    );
    // `/tls-rpt` is the report reader's page, not the app's; its bootstrap script is allowed
    // by hash, and no page serves a bundle's index.html under its file name.
    let reader = get(addr, "/tls-rpt").await;
    assert_eq!(reader.status, 200);
    assert!(reader.body.contains("report reader"), "{}", reader.body);
    let hash = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"start()"))
    };
    assert!(
        reader
            .head
            .contains(&format!("'sha256-{}'", hash.to_lowercase())),
        "{}",
        reader.head
    );
    assert!(reader.head.contains("frame-ancestors 'none'"));
    let direct = get(addr, "/tls-rpt/index.html").await;
    assert!(direct.body.contains("mxtls app"), "{}", direct.body);
    let widget = get(addr, "/widget/example.org").await;
    assert!(widget.body.contains("mxtls app"), "{}", widget.body);
    assert!(!widget.head.contains("x-frame-options"), "{}", widget.head);
    assert!(widget.head.contains("frame-ancestors *"), "{}", widget.head);
    assert!(!widget.head.contains("set-cookie"), "{}", widget.head);

    // An unchecked domain has no latest snapshot; a bad name is a clear 400.
    let latest = get(addr, "/api/domains/example.org/latest").await;
    assert_eq!(latest.status, 404);
    assert!(latest.body.contains("not been checked"), "{}", latest.body);
    let bad = get(addr, "/api/domains/not%20a%20domain/latest").await;
    assert_eq!(bad.status, 400);

    // The root set the page judges with is webpki-roots' (the upstream data), as it is.
    let roots = get(addr, "/api/roots").await;
    let set: serde_json::Value = serde_json::from_str(&roots.body).expect("the root set");
    let served: Vec<(Vec<u8>, Vec<u8>)> = set["anchors"]
        .as_array()
        .expect("anchors")
        .iter()
        .map(|a| (b64(&a["subject"]), b64(&a["spki"])))
        .collect();
    let upstream: Vec<(Vec<u8>, Vec<u8>)> = webpki_roots::TLS_SERVER_ROOTS
        .iter()
        .map(|a| (a.subject.to_vec(), a.subject_public_key_info.to_vec()))
        .collect();
    assert_eq!(served, upstream, "/api/roots is webpki-roots' set");
    // And that set is Mozilla's, as Debian ships it: the key of each root in Debian's bundle,
    // extracted by OpenSSL (webpki-roots stores the SPKI without its outer SEQUENCE header).
    let debian = mxtls_world::openssl::pem_bundle(
        &std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt")
            .expect("Debian's ca-certificates bundle"),
    );
    let debian_keys: Vec<Vec<u8>> = debian
        .iter()
        .map(|c| der_contents(&mxtls_world::openssl::spki(c)))
        .collect();
    let common = served
        .iter()
        .filter(|(_, k)| debian_keys.contains(k))
        .count();
    assert!(
        common * 10 >= served.len() * 7,
        "only {common} of {} served roots are in Debian's Mozilla bundle",
        served.len()
    );
    let examples = get(addr, "/api/examples").await;
    assert_eq!(examples.body, r#"{"examples":[]}"#);
    // The OpenAPI document parses and documents every API route the router serves.
    let doc = get(addr, "/api/openapi.json").await;
    let spec: serde_json::Value = serde_json::from_str(&doc.body).expect("OpenAPI JSON");
    for path in [
        "/api/check/{domain}",
        "/api/snapshots/{id}",
        "/api/domains/{domain}/latest",
        "/api/examples",
        "/api/roots",
        "/badge/{file}",
        "/healthz",
        "/api/domains/{domain}/history",
        "/d/{domain}/feed.atom",
        "/d/{domain}/watch",
        "/api/watches",
        "/api/watches/{id}",
        "/api/watches/{id}/confirm",
        "/api/watches/{id}/unsubscribe",
        "/metrics",
        "/tlsrpt/{domain}",
        "/api/sender-tests",
        "/api/sender-tests/{token}",
        "/api/batches",
        "/api/batches/{id}",
        "/api/batches/{id}/results",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is not documented");
    }
    std::fs::remove_dir_all(dir).ok();
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("base64")
}

/// The contents of a DER SEQUENCE (its header stripped).
fn der_contents(der: &[u8]) -> Vec<u8> {
    let len_byte = der[1];
    let skip = if len_byte < 0x80 {
        2
    } else {
        2 + usize::from(len_byte & 0x7f)
    };
    der[skip..].to_vec()
}

/// Without a built web app the API still works, and `/` says what is missing instead of
/// an empty 404.
#[tokio::test]
async fn without_a_web_app_the_root_says_so() {
    let db = common::TestDb::memory();
    let config = mxtls_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        web_dir: std::env::temp_dir().join("mxtls-no-such-web-dir"),
        db: db.url.clone(),
        probe: mxtls_probe::Config::default(),
        ..mxtls_server::Config::default()
    };
    let app = std::sync::Arc::new(mxtls_server::App::new(
        db.open().await,
        config.probe.clone(),
        mxtls_server::Limits::default(),
    ));
    let (addr, _server) = common::serve(config, app).await;
    let root = get(addr, "/").await;
    assert_eq!(root.status, 503);
    assert!(
        root.body.contains("the web app is not built"),
        "{}",
        root.body
    );
    assert!(root.body.contains("trunk build"), "{}", root.body);
    assert_eq!(get(addr, "/healthz").await.status, 200);
    assert_eq!(
        get(addr, "/favicon.ico").await.status,
        200,
        "the icon, built app or not"
    );
}
