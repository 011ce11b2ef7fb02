//! `--server` (and `MXTLS_SERVER`) against the test world: `mxtls check` and `mxtls analyse`
//! end the text report with the domain's watch page on that server and give it as
//! `watch_url` in the JSON (null without a server); `--nagios` stays one line.

use std::process::{Command, Output};
use std::time::Duration;

use mxtls_world::process::output_within;
use mxtls_world::{Options, World};

mod common;

const LIMIT: Duration = Duration::from_secs(90);

fn run(cmd: &mut Command) -> Output {
    output_within(cmd.env_remove("MXTLS_SERVER").env("NO_COLOR", "1"), LIMIT)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `mxtls analyse FILE ARGS…`, with `env` set.
fn analyse(file: &std::path::Path, args: &[&str], env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxtls"));
    cmd.arg("analyse").arg(file).args(args);
    let cmd = &mut cmd;
    match env {
        Some(server) => output_within(cmd.env("MXTLS_SERVER", server).env("NO_COLOR", "1"), LIMIT)
            .unwrap_or_else(|e| panic!("{e}")),
        None => run(cmd),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_names_the_watch_page_of_the_server_given() {
    let world = World::start(Options {
        net: 98,
        smtp_port: 2598,
        postfix: false,
        ..Options::default()
    })
    .await
    .expect("the world starts");
    let domain = "dane-ee.test";
    let page = "https://checker.test/d/dane-ee.test/watch";

    // A check with a server: the JSON has the watch page (a trailing slash is not doubled).
    let out = run(common::mxtls_at(&world, &["check", domain])
        .args(["--allow-private-targets", "--json", "--server"])
        .arg("https://checker.test/"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["watch_url"], page, "{}", stdout(&out));
    let file = world.dir.join("dane-ee.json");
    std::fs::write(&file, &out.stdout).expect("written");

    // The text of a check: the report, then the watch page as its last line.
    let out = run(common::mxtls_at(&world, &["check", domain]).args([
        "--allow-private-targets",
        "--server",
        "https://checker.test",
    ]));
    let text = stdout(&out);
    assert!(text.contains("dane-ee.test"), "{text}");
    assert_eq!(
        text.trim_end().lines().last(),
        Some(format!("To be told when this changes: {page}").as_str()),
        "{text}"
    );

    // `analyse` of the saved report: the same, from the flag or from MXTLS_SERVER.
    for (args, env) in [
        (&["--server", "https://checker.test"][..], None),
        (&[][..], Some("https://checker.test")),
    ] {
        let text = stdout(&analyse(&file, args, env));
        assert!(
            text.ends_with(&format!("\nTo be told when this changes: {page}\n")),
            "{args:?} {env:?}: {text}"
        );
        let out = analyse(&file, &[args, &["--json"][..]].concat(), env);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["watch_url"], page);
    }

    // Without a server: no line, and `watch_url` is null (present, so scripts can rely on it).
    let text = stdout(&analyse(&file, &[], None));
    assert!(!text.contains("To be told"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&analyse(&file, &["--json"], None).stdout).expect("JSON");
    assert!(
        json.as_object()
            .is_some_and(|o| o.contains_key("watch_url"))
            && json["watch_url"].is_null(),
        "{json}"
    );

    // --nagios: its one line, the same with or without a server.
    let plain = stdout(&analyse(&file, &["--nagios"], None));
    let with = stdout(&analyse(
        &file,
        &["--nagios", "--server", "https://checker.test"],
        None,
    ));
    assert_eq!(with.lines().count(), 1, "{with}");
    assert_eq!(with, plain);

    // A server that is not an http(s) URL is bad usage.
    let out = analyse(&file, &["--server", "ftp://checker.test"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("http:// or https://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
