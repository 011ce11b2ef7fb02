//! `mxtls-world`: starts the hermetic test world, prints how to use it, and runs until
//! interrupted (Ctrl-C, SIGTERM) or until its standard input closes; then it stops every
//! process it started.
//!
//! Options: `--net N` (use 127.N.0.0/16, default 53), `--smtp-port PORT` (default 2525),
//! `--https-port PORT` (default 4443), `--banner-delay-ms MS` (default 3000), `--no-postfix`,
//! `--portfolio SHARED,ADDRESSES,OWN` (the scale benchmark's portfolio, its list written to
//! `portfolio.txt` in the world's directory);
//! `--markdown` prints the scenario table for SCENARIOS.md and exits; `--hold-ports P,…`
//! only holds those TCP ports on every address (0.0.0.0 and ::) until its standard input
//! closes — the stand-in for a machine's own mail and web servers in `scripts/test.sh`.

use std::time::Duration;

use mxtls_world::{Options, World};
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};

fn parse() -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--net" => o.net = value("--net")?.parse().map_err(|_| "--net takes 0-255")?,
            "--smtp-port" => o.smtp_port = value("--smtp-port")?.parse().map_err(|_| "--smtp-port takes a port")?,
            "--banner-delay-ms" => {
                o.banner_delay = Duration::from_millis(value("--banner-delay-ms")?.parse().map_err(|_| "bad delay")?)
            }
            "--https-port" => o.https_port = value("--https-port")?.parse().map_err(|_| "--https-port takes a port")?,
            "--no-postfix" => o.postfix = false,
            "--portfolio" => {
                let v = value("--portfolio")?;
                let n: Vec<usize> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
                let [shared_domains, shared_addresses, own] = n[..] else {
                    return Err("--portfolio takes SHARED,ADDRESSES,OWN (e.g. 10000,20,500)".into());
                };
                o.portfolio = Some(mxtls_world::portfolio::Shape { shared_domains, shared_addresses, own });
            }
            "--hold-ports" => {
                let ports = value("--hold-ports")?;
                std::process::exit(hold_ports(&ports));
            }
            "--markdown" => {
                print!("{}", mxtls_world::scenarios::markdown());
                std::process::exit(0);
            }
            "-h" | "--help" => return Err("usage: mxtls-world [--net N] [--smtp-port PORT] [--https-port PORT] [--banner-delay-ms MS] [--no-postfix] [--portfolio SHARED,ADDRESSES,OWN] | --markdown | --hold-ports P,...".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    mxtls_world::raise_open_files();
    let options = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mxtls-world: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let world = match World::start(options).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("mxtls-world: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{}", world.describe());
    if let Some(p) = &world.portfolio {
        let list = world.dir.join("portfolio.txt");
        if let Err(e) = std::fs::write(&list, p.domains.join("\n")) {
            eprintln!("mxtls-world: {}: {e}", list.display());
        }
        println!(
            "portfolio: {} domains in portfolio.test ({} with TLSA), listed in {}\n",
            p.domains.len(),
            p.dane_domains,
            list.display()
        );
    }
    println!(
        "try: mxtls check dane-ee.test --resolver {} --trust-anchor {} --pkix-roots {} --allow-private-targets",
        world.resolver,
        world.trust_anchor.display(),
        world.root_ca.display()
    );
    let examples: String = world
        .scenarios
        .iter()
        .map(|s| format!(" --example {}", s.domain))
        .collect();
    println!(
        "web: mxtls serve --db {} --resolver {} --trust-anchor {} --pkix-roots {} --smtp-port {} --https-port {} --allow-private-targets{examples}",
        world.dir.join("snapshots.sqlite").display(),
        world.resolver,
        world.trust_anchor.display(),
        world.root_ca.display(),
        world.smtp_port,
        world.https_port
    );
    println!("stop with Ctrl-C (or close standard input)");

    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        world.stop().await;
        return std::process::ExitCode::FAILURE;
    };
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = async { while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {} } => {}
    }
    world.stop().await;
    eprintln!("mxtls-world: stopped");
    std::process::ExitCode::SUCCESS
}

/// Listens on each port on 0.0.0.0 and [::] (IPv6 only) and holds the sockets until standard
/// input closes, as a machine's own mail server would; a port something else already holds is
/// held anyway. Prints `holding …` when ready.
fn hold_ports(list: &str) -> i32 {
    use std::io::Read;
    let mut held = Vec::new();
    for port in list.split(',') {
        let Ok(port) = port.trim().parse::<u16>() else {
            eprintln!("mxtls-world: --hold-ports takes ports, not {port:?}");
            return 2;
        };
        // [::] first: where it is dual-stack it holds IPv4 too, and 0.0.0.0 is then taken.
        for addr in [format!("[::]:{port}"), format!("0.0.0.0:{port}")] {
            match std::net::TcpListener::bind(&addr) {
                Ok(l) => held.push(l),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    eprintln!("mxtls-world: {addr} is held already")
                }
                Err(e) => {
                    eprintln!("mxtls-world: cannot hold {addr}: {e}");
                    return 1;
                }
            }
        }
    }
    println!("holding {list}");
    let mut buf = [0u8; 64];
    while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
    drop(held);
    0
}
