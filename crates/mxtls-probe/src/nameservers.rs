//! Questions asked of one authoritative server directly: no recursion (RD=0), DNSSEC records
//! wanted (DO=1), over UDP with a 1232-byte EDNS buffer, and over TCP when the answer is
//! truncated (RFC 7766). What the server says is recorded, never judged; a server that does
//! not answer is evidence too.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::Name;
use mxtls_core::evidence::{Bytes, DirectAnswer};
use mxtls_core::names::{DnsName, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::identity::SourceAddrs;

/// The largest response read over TCP (the DNS maximum).
const MAX_TCP_MESSAGE: usize = 65_535;
/// Datagrams that are not our answer (a late reply to an earlier question, noise) ignored
/// before giving up.
const MAX_STRAY_DATAGRAMS: usize = 8;

/// Asks `server` for `name`/`rtype` from `source`, within `limit`.
pub async fn ask(
    server: SocketAddr,
    name: &DnsName,
    rtype: RecordType,
    limit: Duration,
    source: SourceAddrs,
) -> DirectAnswer {
    let started = Instant::now();
    let mut answer = DirectAnswer {
        qname: name.clone(),
        qtype: rtype,
        rcode: None,
        authoritative: false,
        records: Vec::new(),
        wire: None,
        error: None,
        elapsed_ms: None,
    };
    let result = tokio::time::timeout(limit, exchange(server, name, rtype, source)).await;
    match result {
        Ok(Ok(wire)) => fill(&mut answer, wire),
        Ok(Err(e)) => answer.error = Some(e),
        Err(_) => answer.error = Some(format!("no answer within {} s", limit.as_secs())),
    }
    answer.elapsed_ms = Some(crate::clock::elapsed_ms(started));
    answer
}

/// The query message for `name`/`rtype` with a fresh random id.
fn query(name: &DnsName, rtype: RecordType) -> Result<(u16, Vec<u8>), String> {
    let mut id = [0u8; 2];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| "no randomness for a query id".to_owned())?;
    let id = u16::from_be_bytes(id);
    let qname = Name::from_ascii(format!("{name}.")).map_err(|e| format!("{name}: {e}"))?;
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = false;
    m.add_query(Query::query(qname, rtype.0));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    m.set_edns(edns);
    let bytes = m
        .to_vec()
        .map_err(|e| format!("cannot encode the query: {e}"))?;
    Ok((id, bytes))
}

/// UDP first; TCP when the response is truncated. The response's wire form.
async fn exchange(
    server: SocketAddr,
    name: &DnsName,
    rtype: RecordType,
    source: SourceAddrs,
) -> Result<Vec<u8>, String> {
    let (id, bytes) = query(name, rtype)?;
    let socket = source
        .udp(server.ip())
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    socket
        .connect(server)
        .await
        .map_err(|e| format!("cannot reach {server}: {e}"))?;
    socket
        .send(&bytes)
        .await
        .map_err(|e| format!("cannot send to {server}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    for _ in 0..MAX_STRAY_DATAGRAMS {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| format!("{server}: {e}"))?;
        let reply = &buf[..n];
        if reply.len() < 12 || u16::from_be_bytes([reply[0], reply[1]]) != id {
            continue;
        }
        // TC (RFC 1035 §4.1.1): the whole answer needs TCP.
        if reply[2] & 0x02 != 0 {
            return over_tcp(server, &bytes, source).await;
        }
        return Ok(reply.to_vec());
    }
    Err(format!(
        "{server} sent only datagrams that answer nothing we asked"
    ))
}

async fn over_tcp(
    server: SocketAddr,
    query: &[u8],
    source: SourceAddrs,
) -> Result<Vec<u8>, String> {
    let mut stream = source
        .connect(server)
        .await
        .map_err(|e| format!("cannot connect to {server} over TCP: {e}"))?;
    let _ = stream.set_nodelay(true);
    let len = u16::try_from(query.len()).map_err(|_| "the query is too long".to_owned())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("{server} over TCP: {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| format!("{server} closed the TCP connection: {e}"))?;
    let len = usize::from(u16::from_be_bytes(len)).min(MAX_TCP_MESSAGE);
    let mut reply = vec![0u8; len];
    stream
        .read_exact(&mut reply)
        .await
        .map_err(|e| format!("{server} closed the TCP connection mid-answer: {e}"))?;
    Ok(reply)
}

/// Records the decoded response: code, AA bit, the answer section uncompressed.
fn fill(answer: &mut DirectAnswer, wire: Vec<u8>) {
    match Message::from_vec(&wire) {
        Ok(m) => {
            answer.rcode = Some(u16::from(m.metadata.response_code));
            answer.authoritative = m.metadata.authoritative;
            answer.records = m.answers.iter().map(crate::dns::to_record).collect();
        }
        Err(e) => answer.error = Some(format!("a malformed response: {e}")),
    }
    answer.wire = Some(Bytes(wire));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UDP "server" that answers with `reply(query)`.
    async fn server(reply: fn(&[u8]) -> Option<Vec<u8>>) -> SocketAddr {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = socket.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if let Some(r) = reply(&buf[..n]) {
                    let _ = socket.send_to(&r, from).await;
                }
            }
        });
        addr
    }

    fn name() -> DnsName {
        DnsName::parse("example.org").expect("a name")
    }

    #[tokio::test]
    async fn a_silent_server_is_evidence_not_a_hang() {
        let addr = server(|_| None).await;
        let a = ask(
            addr,
            &name(),
            RecordType::MX,
            Duration::from_millis(300),
            SourceAddrs::default(),
        )
        .await;
        assert!(
            a.error.as_deref().is_some_and(|e| e.contains("no answer")),
            "{a:?}"
        );
        assert_eq!(a.rcode, None);
    }

    #[tokio::test]
    async fn garbage_and_strangers_are_not_answers() {
        // A reply with another id, then garbage with ours: neither panics; the garbage is
        // recorded as a malformed response.
        let addr = server(|q| {
            let mut r = q.to_vec();
            r[2] |= 0x80;
            r.truncate(14);
            r.extend([0xff; 5]);
            Some(r)
        })
        .await;
        let a = ask(
            addr,
            &name(),
            RecordType::MX,
            Duration::from_secs(2),
            SourceAddrs::default(),
        )
        .await;
        assert!(
            a.error.as_deref().is_some_and(|e| e.contains("malformed")),
            "{a:?}"
        );
        assert!(a.wire.is_some(), "the bytes are kept");
    }

    #[tokio::test]
    async fn the_query_asks_without_recursion_and_with_do() {
        let (_, bytes) = query(&name(), RecordType::MX).expect("a query");
        let m = Message::from_vec(&bytes).expect("decodes");
        assert!(!m.metadata.recursion_desired);
        let edns = m.edns.as_ref().expect("EDNS");
        assert!(edns.flags().dnssec_ok);
        assert_eq!(edns.max_payload(), 1232);
    }
}
