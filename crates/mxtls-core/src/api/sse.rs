//! A server-sent events parser (the `text/event-stream` format of the HTML standard), fed
//! with the bytes of a streamed `fetch` body. The page reads the stream itself rather than
//! through `EventSource`, which would reconnect — starting a new check — when the server
//! ends the stream, and which hides the status and `Retry-After` of a refused request. It
//! lives beside the stream's events (pure, no I/O) so that the fuzz targets can reach it
//! natively (the web app is wasm only).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// The `data:` lines, joined by newlines.
    pub data: String,
}

/// Incremental parser. Memory is bounded: a line or an event larger than `MAX_EVENT` is an
/// error, never an ever-growing buffer.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    /// The previous chunk ended in `\r`: a following `\n` belongs to it.
    after_cr: bool,
}

/// The largest event accepted (an evidence value with its certificate chains is far below).
pub const MAX_EVENT: usize = 16 << 20;

impl Parser {
    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Message>, String> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(m) = self.line_done(&String::from_utf8_lossy(&line)) {
                        out.push(m);
                    }
                }
                _ => {
                    if self.line.len() + self.data.len() >= MAX_EVENT {
                        return Err("the server sent an event larger than 16 MB".into());
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    fn line_done(&mut self, line: &str) -> Option<Message> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            let event = if event.is_empty() {
                "message".to_owned()
            } else {
                event
            };
            return Some(Message { event, data });
        }
        if line.starts_with(':') {
            return None; // a comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {} // id, retry: not used
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_reassembled() {
        let stream = b": keep-alive\n\nevent: progress\ndata: {\"a\":1}\n\nevent: evidence\r\ndata: line one\r\ndata: line two\r\n\r\ndata: plain\n\n";
        for split in 0..stream.len() {
            let mut p = Parser::default();
            let mut got = p.push(&stream[..split]).unwrap();
            got.extend(p.push(&stream[split..]).unwrap());
            assert_eq!(
                got,
                vec![
                    Message {
                        event: "progress".into(),
                        data: "{\"a\":1}".into()
                    },
                    Message {
                        event: "evidence".into(),
                        data: "line one\nline two".into()
                    },
                    Message {
                        event: "message".into(),
                        data: "plain".into()
                    },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_event_without_end_is_not_dispatched_and_huge_ones_are_refused() {
        let mut p = Parser::default();
        assert!(p.push(b"event: evidence\ndata: half").unwrap().is_empty());
        let mut p = Parser::default();
        let big = vec![b'x'; MAX_EVENT + 1];
        assert!(p.push(b"data: ").is_ok());
        assert!(p.push(&big).is_err());
    }
}
