//! The check stream as the page reads it (`text/event-stream`, `mxtls_core::api::sse`), then
//! each event as the page takes it (`StreamEvent::parse`).

use mxtls_core::api::StreamEvent;
use mxtls_core::api::sse::Parser;

/// The whole input in one push, then again a byte at a time: the events (or the refusal)
/// must not depend on where the network split the body.
pub fn event_stream(data: &[u8]) {
    let whole = Parser::default().push(data);
    let mut parser = Parser::default();
    let mut bytewise = Ok(Vec::new());
    for b in data {
        match (parser.push(std::slice::from_ref(b)), &mut bytewise) {
            (Ok(events), Ok(all)) => all.extend(events),
            (Err(e), _) => {
                bytewise = Err(e);
                break;
            }
            (Ok(_), Err(_)) => break,
        }
    }
    assert_eq!(
        whole, bytewise,
        "the events depend on how the body was split"
    );
    for message in whole.iter().flatten() {
        if let Some(Ok(event)) = StreamEvent::parse(&message.event, &message.data) {
            let _ = event.name();
            let _ = event.data();
        }
    }
}
