//! Where the probe sends its progress events (the type lives in `mxtls_core::progress`): the
//! CLI draws them on a terminal, the server forwards them to the browser.

pub use mxtls_core::progress::Event;

/// Where events go; `None` drops them.
pub type Sink = Option<tokio::sync::mpsc::UnboundedSender<Event>>;

pub(crate) fn emit(sink: &Sink, event: Event) {
    if let Some(tx) = sink {
        let _ = tx.send(event);
    }
}
