//! The mailbox Postfix takes mail for its domain from loopback and delivers it into its
//! Maildir, where a test reads it; mail for anywhere else is refused.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

fn reply(r: &mut BufReader<TcpStream>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return all;
        }
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailbox_postfix_delivers_into_its_maildir() {
    let dir = std::env::temp_dir().join(format!("mxtls-mailbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ip = Ipv4Addr::new(127, 64, 9, 1);
    // A free port: Postfix binds with SO_REUSEPORT, so one left from an interrupted run
    // would otherwise share (and answer on) a fixed one.
    let port = std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (daemon, maildir) =
        mxtls_world::daemons::mailbox_postfix(&dir, ip, port, "box.test").expect("postfix starts");
    let start = Instant::now();
    let stream = loop {
        match TcpStream::connect((ip, port)) {
            Ok(s) => break s,
            Err(e) if start.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("no smtpd: {e}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut w = stream.try_clone().expect("clone");
    let mut r = BufReader::new(stream);
    let log = || std::fs::read_to_string(dir.join("maillog")).unwrap_or_default();
    let banner = reply(&mut r);
    assert!(banner.starts_with("220 "), "{banner}\n{}", log());
    for (cmd, want) in [
        ("EHLO test.local", "250"),
        ("MAIL FROM:<a@sender.test>", "250"),
        ("RCPT TO:<someone@elsewhere.test>", "550"),
        ("RCPT TO:<owner@box.test>", "250"),
        ("DATA", "354"),
        ("Subject: hello\r\n\r\nbody line\r\n.", "250"),
        ("QUIT", "221"),
    ] {
        write!(w, "{cmd}\r\n").expect("write");
        let got = reply(&mut r);
        assert!(got.starts_with(want), "{cmd}: {got}\n{}", log());
    }
    let start = Instant::now();
    let mail = loop {
        let found: Vec<_> = std::fs::read_dir(maildir.join("new"))
            .map(|d| d.filter_map(|e| e.ok()).collect())
            .unwrap_or_default();
        if let Some(f) = found.first() {
            break std::fs::read_to_string(f.path()).expect("read mail");
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not delivered\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        mail.contains("Subject: hello") && mail.contains("body line"),
        "{mail}"
    );
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
