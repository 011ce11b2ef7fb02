//! The built app under the server's content security policy, in headless Chromium: the wasm
//! app must start (Trunk's inline bootstrap allowed by hash) and render its domain form. Needs the
//! web app built into `dist/` first, as scripts/test.sh does before the tests.

use std::path::PathBuf;
use std::process::Command;

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_renders_under_the_csp() {
    let dist = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../dist"));
    assert!(
        dist.join("index.html").exists(),
        "build the web app first: trunk build --release (scripts/test.sh does)"
    );
    let db = common::TestDb::memory();
    let config = mxtls_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        web_dir: dist,
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

    let profile = std::env::temp_dir().join(format!("mxtls-chromium-{}", std::process::id()));
    let url = format!("http://{addr}/");
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url);
        mxtls_world::process::output_within(&mut cmd, std::time::Duration::from_secs(120))
    })
    .await
    .expect("join")
    .expect("chromium runs (scripts/setup.sh installs it)");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("Is mail to your domain protected?") && dom.contains("id=\"domain\""),
        "the wasm app did not render under the CSP:\n{dom}"
    );
}
