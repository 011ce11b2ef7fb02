//! The test world as a child process for the benches (so that its memory is not the bench's),
//! and what it printed when it was ready.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// A started world: the process, its resolver and its trust anchor file.
pub struct ChildWorld {
    pub process: Child,
    pub resolver: SocketAddr,
    pub anchor: String,
}

/// Starts `mxtls-world` with `args` and reads its start-up lines; `None` (the world killed)
/// when it stopped before naming its resolver and trust anchor.
pub fn start(args: &[&str]) -> Option<ChildWorld> {
    let mut process = Command::new(env!("CARGO_BIN_EXE_mxtls-world"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start mxtls-world");
    let mut resolver = None;
    let mut anchor = None;
    for line in BufReader::new(process.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
    {
        let value = line.split_whitespace().last().map(str::to_owned);
        if line.starts_with("resolver") {
            resolver = value.and_then(|v| v.parse::<SocketAddr>().ok());
        } else if line.starts_with("trust anchor") {
            anchor = value;
        } else if line.starts_with("stop with") {
            break;
        }
    }
    match (resolver, anchor) {
        (Some(resolver), Some(anchor)) => Some(ChildWorld {
            process,
            resolver,
            anchor,
        }),
        _ => {
            eprintln!("the world did not start");
            let _ = process.kill();
            let _ = process.wait();
            None
        }
    }
}
