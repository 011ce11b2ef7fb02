//! The server over real HTTP on loopback: health, static files, client-side routes.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test]
async fn serves_health_app_and_client_routes() {
    let dir = std::env::temp_dir().join(format!("mxtls-server-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<html>mxtls app</html>").unwrap();
    std::fs::write(dir.join("app.js"), "console.log(1)").unwrap();
    let config = mxtls_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        web_dir: dir.clone(),
        db: ":memory:".into(),
        probe: mxtls_probe::Config::default(),
        examples: Vec::new(),
    };
    let app = std::sync::Arc::new(mxtls_server::App::new(
        mxtls_server::snapshots::Store::open(&config.db).unwrap(),
        config.probe.clone(),
        mxtls_server::Limits::default(),
    ));
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            mxtls_server::router(&config, app)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });

    let health = get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok\n"));

    let js = get(addr, "/app.js").await;
    assert!(js.contains("console.log(1)"));
    assert!(
        js.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff")
    );

    // A client-side route falls back to the app.
    let route = get(addr, "/check/example.org").await;
    assert!(route.starts_with("HTTP/1.1 200"), "{route}");
    assert!(route.contains("mxtls app"));

    // Only the widget may be framed by other sites.
    let lower = route.to_ascii_lowercase();
    assert!(lower.contains("x-frame-options: deny"), "{route}");
    assert!(lower.contains("frame-ancestors 'none'"), "{route}");
    let widget = get(addr, "/widget/example.org").await;
    let lower = widget.to_ascii_lowercase();
    assert!(widget.contains("mxtls app"), "{widget}");
    assert!(!lower.contains("x-frame-options"), "{widget}");
    assert!(lower.contains("frame-ancestors *"), "{widget}");
    assert!(!lower.contains("set-cookie"), "{widget}");

    // An unchecked domain has no latest snapshot; a bad name is a clear 400.
    let latest = get(addr, "/api/domains/example.org/latest").await;
    assert!(latest.starts_with("HTTP/1.1 404"), "{latest}");
    assert!(latest.contains("not been checked"), "{latest}");
    let bad = get(addr, "/api/domains/not%20a%20domain/latest").await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    let roots = get(addr, "/api/roots").await;
    let body = roots.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let set: mxtls_core::pkix::RootSet = serde_json::from_str(body).expect("the root set");
    assert_eq!(set, mxtls_core::pkix::RootSet::mozilla());
    assert!(
        set.anchors.len() > 100,
        "Mozilla's set has well over 100 roots"
    );
    let examples = get(addr, "/api/examples").await;
    assert!(examples.contains(r#"{"examples":[]}"#), "{examples}");
    // The OpenAPI document parses and documents every API route the router serves.
    let doc = get(addr, "/api/openapi.json").await;
    let body = doc.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let spec: serde_json::Value = serde_json::from_str(body).expect("OpenAPI JSON");
    for path in [
        "/api/check/{domain}",
        "/api/snapshots/{id}",
        "/api/domains/{domain}/latest",
        "/api/examples",
        "/api/roots",
        "/badge/{file}",
        "/healthz",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is not documented");
    }
    std::fs::remove_dir_all(dir).ok();
}
