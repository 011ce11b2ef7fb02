//! The sender test's parsers of network input: what a sender says to a receiver (its lines
//! through the receiver's dialogue, with a live token for some recipients) and a test as the
//! server sends it (the page's and `sender-test watch`'s JSON, judged).

use mxtls_core::sender_test::dialogue::{self, Dialogue, Step};
use mxtls_core::sender_test::view::SenderTest;
use mxtls_core::sender_test::{Case, Receiver};

/// A sender's bytes, split into lines as the receiver splits them (at most twice the
/// longest command), through the dialogue of every kind of receiver.
pub fn sender_dialogue(data: &[u8]) {
    for mode in [
        Receiver::Tls,
        Receiver::FailAfterStarttls,
        Receiver::Stripped,
        Receiver::Plain,
    ] {
        let (mut talk, _) = Dialogue::new("mx-dane-valid.sender.test", mode);
        let mut in_data = false;
        let mut size = 0usize;
        for line in data.split(|b| *b == b'\n').take(500) {
            let line = &line[..line.len().min(dialogue::MAX_LINE * 2)];
            let text = String::from_utf8_lossy(line);
            let text = text.trim_end_matches('\r');
            if in_data {
                if text == "." {
                    in_data = false;
                    let _ = talk.message_end(size);
                    size = 0;
                } else {
                    size += text.len() + 2;
                }
                continue;
            }
            let live = dialogue::recipient_of(text)
                .is_some_and(|r| r.starts_with("aaaaaaaaaaaaaaaaaaaaaaaaaa@"));
            match talk.command(text, |_| live) {
                Step::Data(_) => in_data = true,
                Step::StartTls(_) => talk.tls_started(),
                Step::Close(_) => break,
                Step::Reply(_) => {}
            }
            let _ = talk.recipient();
        }
    }
}

/// A sender test's JSON, as the page reads it: parsed, its addresses, verdicts and summary.
pub fn sender_test_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(test) = mxtls_core::api::from_json::<SenderTest>(text) else {
        return;
    };
    let _ = test.addresses();
    let _ = test.summary();
    for case in Case::ALL {
        let _ = case.mx_host(&test.zone);
    }
}
