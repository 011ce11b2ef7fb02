//! A webhook receiver for the outbox tests: answers each request as told (a status, a
//! redirect, or silence), and records what it got.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request a receiver got: its path, `Idempotency-Key`, JSON body and the status it
/// answered (0: none, the receiver is silent).
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub key: String,
    pub body: Value,
    pub answered: u16,
}

/// How a receiver answers the `nth` request (from 0) with a given key on a path: a status and
/// a `Location`, or `None` to stay silent.
pub type Answers = Arc<dyn Fn(&str, usize) -> Option<(u16, Option<&'static str>)> + Send + Sync>;

/// A webhook receiver on `listener`: what it got, and how many connections it holds open.
#[derive(Clone)]
pub struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Connections held open now.
    pub open: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn bind() -> (SocketAddr, TcpListener) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        (l.local_addr().expect("addr"), l)
    }

    pub fn start(listener: TcpListener, answers: Answers) -> Receiver {
        let r = Receiver {
            hits: Arc::default(),
            open: Arc::default(),
        };
        let seen: Arc<Mutex<HashMap<(String, String), usize>>> = Arc::default();
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let (me, answers, seen) = (me.clone(), answers.clone(), seen.clone());
                tokio::spawn(async move {
                    me.open.fetch_add(1, Ordering::SeqCst);
                    me.serve(s, answers, seen).await;
                    me.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        r
    }

    async fn serve(
        &self,
        mut s: tokio::net::TcpStream,
        answers: Answers,
        seen: Arc<Mutex<HashMap<(String, String), usize>>>,
    ) {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let (head, body) = loop {
            let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await
            else {
                return;
            };
            if n == 0 {
                return;
            }
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = header(head, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if body.len() >= len {
                    break (head.to_owned(), body.to_owned());
                }
            }
        };
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        assert!(head.starts_with("POST "), "{head}");
        let key = header(&head, "idempotency-key").unwrap_or_default();
        let nth = {
            let mut seen = seen.lock().expect("lock");
            let n = seen.entry((path.clone(), key.clone())).or_insert(0);
            *n += 1;
            *n - 1
        };
        let answer = answers(&path, nth);
        self.hits.lock().expect("lock").push(Hit {
            path,
            key,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
            answered: answer.map_or(0, |a| a.0),
        });
        match answer {
            Some((status, location)) => {
                let location = location.map(|l| format!("Location: {l}\r\n"));
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status} X\r\n{}Content-Length: 0\r\nConnection: close\r\n\r\n",
                            location.unwrap_or_default()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
            // Silent: hold the connection until the sender gives up (or a minute passes).
            None => {
                let _ = tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf)).await;
            }
        }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("lock").clone()
    }

    /// The requests answered with a 2xx: the deliveries.
    pub fn delivered(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| (200..300).contains(&h.answered))
            .collect()
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Keys delivered more than once.
pub fn duplicates(hits: &[Hit]) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for h in hits {
        *count.entry(h.key.as_str()).or_default() += 1;
    }
    count
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k.to_owned())
        .collect()
}
