//! The MTA-STS policy host's answer (issue 21: a chunk size near `usize::MAX` once crashed
//! the probe's own HTTP reader): whatever a policy host sends, through the probe's
//! [`mxtls_probe::mta_sts::exchange`], from a server that reads the request and answers.

use std::cell::RefCell;

use mxtls_core::evidence::PolicyFetch;
use mxtls_core::mta_sts::MAX_POLICY_BYTES;
use mxtls_core::names::DnsName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

thread_local! {
    /// One runtime per fuzzing thread: building one per input would be most of the work.
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// The first byte sets how many bytes the server writes at a time (1 to 256), so that
/// every boundary — inside a chunk size, between CR and LF — meets a read that ends there;
/// the rest is the whole answer, after which the server closes. The record must hold at
/// most [`MAX_POLICY_BYTES`] of body, and a body only with status 200 and no failure.
pub fn policy_http(data: &[u8]) {
    let Some((&step, answer)) = data.split_first() else {
        return;
    };
    let step = usize::from(step) + 1;
    let record = RUNTIME.with(|cell| {
        let mut cell = cell.borrow_mut();
        let runtime = cell.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap_or_else(|e| panic!("a runtime: {e}"))
        });
        runtime.block_on(exchange(answer, step))
    });
    if let Some(body) = &record.body {
        assert!(body.0.len() <= MAX_POLICY_BYTES, "a body over the limit");
        assert_eq!(record.status, Some(200), "a body without a 200");
        assert!(record.failure.is_none(), "a body beside a failure");
        let _ = mxtls_core::mta_sts::parse_policy(&body.0);
    }
}

async fn exchange(answer: &[u8], step: usize) -> PolicyFetch {
    let mut record = PolicyFetch::default();
    let Ok(host) = DnsName::parse("mta-sts.example.org") else {
        return record;
    };
    let (client, mut server) = tokio::io::duplex(4096);
    let serve = async move {
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match server.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        for piece in answer.chunks(step) {
            if server.write_all(piece).await.is_err() {
                return; // the client stopped reading
            }
        }
        let _ = server.shutdown().await;
    };
    let (result, ()) = tokio::join!(
        mxtls_probe::mta_sts::exchange(client, &host, &mut record),
        serve
    );
    record.failure = result.err();
    record
}
