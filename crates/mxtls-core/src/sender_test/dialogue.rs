//! The receiver's side of an SMTP conversation with a sender under test, without I/O: lines
//! in, replies and instructions out, so that the receiver's rules are tested with bytes. It
//! accepts a message only for a live token (`TOKEN@test-domain`), never relays, bounds every
//! line and the message, and does to STARTTLS what its [`Receiver`] says.

use super::Receiver;

/// The longest command line (RFC 5321 §4.5.3.1.4: 512 octets with CRLF).
pub const MAX_LINE: usize = 512;
/// The largest message taken: a test message is a few lines.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Commands taken in one connection before it is closed.
pub const MAX_COMMANDS: usize = 50;

/// What the receiver does after a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this reply and read the next line.
    Reply(String),
    /// Send this reply, then start TLS as the server (or, for a broken STARTTLS, break the
    /// handshake off).
    StartTls(String),
    /// Send this reply, then read the message until `.` alone on a line.
    Data(String),
    /// Send this reply and close.
    Close(String),
}

/// A conversation's state.
#[derive(Debug)]
pub struct Dialogue {
    host: String,
    mode: Receiver,
    tls: bool,
    helo: bool,
    from: Option<String>,
    to: Option<String>,
    commands: usize,
}

impl Dialogue {
    /// A conversation of the receiver `host` behaving as `mode`; the greeting to send first.
    pub fn new(host: &str, mode: Receiver) -> (Dialogue, String) {
        let d = Dialogue {
            host: host.to_owned(),
            mode,
            tls: false,
            helo: false,
            from: None,
            to: None,
            commands: 0,
        };
        let greeting = format!("220 {host} ESMTP mxtls sender test");
        (d, greeting)
    }

    /// TLS is up (after [`Step::StartTls`]): the sender must say EHLO again (RFC 3207 §4.2).
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.helo = false;
        self.from = None;
        self.to = None;
    }

    /// The recipient accepted in this transaction, once `DATA` ended.
    pub fn recipient(&self) -> Option<&str> {
        self.to.as_deref()
    }

    /// The reply to one command line (without its CRLF); `live(address)` says whether a
    /// recipient is a live token's address.
    pub fn command(&mut self, line: &str, live: impl Fn(&str) -> bool) -> Step {
        self.commands += 1;
        if self.commands > MAX_COMMANDS {
            return Step::Close("421 4.7.0 too many commands".into());
        }
        if line.len() + 2 > MAX_LINE {
            return Step::Reply("500 5.5.2 line too long".into());
        }
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        match verb {
            "EHLO" => {
                self.helo = true;
                let mut lines = vec![format!("250-{}", self.host), "250-SIZE 65536".to_owned()];
                if !self.tls {
                    match self.mode {
                        Receiver::Tls | Receiver::FailAfterStarttls => {
                            lines.push("250-STARTTLS".into())
                        }
                        // What a downgrading middlebox leaves of STARTTLS.
                        Receiver::Stripped => lines.push("250-XXXXXXXA".into()),
                        Receiver::Plain => {}
                    }
                }
                lines.push("250 8BITMIME".into());
                Step::Reply(lines.join("\r\n"))
            }
            "HELO" => {
                self.helo = true;
                Step::Reply(format!("250 {}", self.host))
            }
            "STARTTLS"
                if !self.tls
                    && matches!(self.mode, Receiver::Tls | Receiver::FailAfterStarttls) =>
            {
                Step::StartTls("220 2.0.0 ready to start TLS".into())
            }
            "STARTTLS" => Step::Reply("502 5.5.1 not offered".into()),
            "MAIL" if !self.helo => Step::Reply("503 5.5.1 EHLO first".into()),
            "MAIL" => match path(line, "FROM:") {
                Some(from) => {
                    self.from = Some(from);
                    self.to = None;
                    Step::Reply("250 2.1.0 ok".into())
                }
                None => Step::Reply("501 5.5.4 MAIL FROM:<address>".into()),
            },
            "RCPT" if self.from.is_none() => Step::Reply("503 5.5.1 MAIL first".into()),
            "RCPT" if self.to.is_some() => {
                Step::Reply("452 4.5.3 one recipient per message".into())
            }
            "RCPT" => match path(line, "TO:") {
                Some(to) if live(&to) => {
                    self.to = Some(to);
                    Step::Reply("250 2.1.5 ok".into())
                }
                Some(_) => Step::Reply("550 5.1.1 no such test, or it has ended".into()),
                None => Step::Reply("501 5.5.4 RCPT TO:<address>".into()),
            },
            "DATA" if self.to.is_none() => Step::Reply("503 5.5.1 RCPT first".into()),
            "DATA" => Step::Data("354 end with <CRLF>.<CRLF>".into()),
            "RSET" => {
                self.from = None;
                self.to = None;
                Step::Reply("250 2.0.0 ok".into())
            }
            "NOOP" => Step::Reply("250 2.0.0 ok".into()),
            "QUIT" => Step::Close(format!("221 2.0.0 {} closing", self.host)),
            _ => Step::Reply("502 5.5.1 not implemented".into()),
        }
    }

    /// The reply once the message has been read: `size` octets, or more than allowed.
    pub fn message_end(&mut self, size: usize) -> Step {
        // The transaction ends with its data (RFC 5321 §4.1.1.4): a new one needs MAIL.
        self.from = None;
        self.to = None;
        if size > MAX_MESSAGE {
            return Step::Reply("552 5.3.4 message too large".into());
        }
        Step::Reply("250 2.0.0 received: the test has its verdict".into())
    }
}

/// The recipient a `RCPT TO:<a>` line names, lower-cased: what the receiver asks the store
/// about before the dialogue answers.
pub fn recipient_of(line: &str) -> Option<String> {
    let verb = line.split_whitespace().next()?;
    if !verb.eq_ignore_ascii_case("RCPT") {
        return None;
    }
    path(line, "TO:")
}

/// The address of `MAIL FROM:<a>` or `RCPT TO:<a>` (`prefix` the part before `<`), lower-cased;
/// the empty reverse path `<>` is an empty string.
fn path(line: &str, prefix: &str) -> Option<String> {
    let rest = line.split_once(' ')?.1.trim_start();
    // `get`, not slicing: the line is the sender's and may cut a character anywhere.
    if !rest.get(..prefix.len())?.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = rest.get(prefix.len()..)?.trim_start();
    let inner = rest.strip_prefix('<')?.split_once('>')?.0;
    Some(inner.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(step: Step) -> String {
        match step {
            Step::Reply(r) | Step::StartTls(r) | Step::Data(r) | Step::Close(r) => r,
        }
    }

    #[test]
    fn starttls_is_offered_masked_or_absent_as_the_case_says() {
        for (mode, has, masked) in [
            (Receiver::Tls, true, false),
            (Receiver::FailAfterStarttls, true, false),
            (Receiver::Stripped, false, true),
            (Receiver::Plain, false, false),
        ] {
            let (mut d, greeting) = Dialogue::new("mx.t.example", mode);
            assert!(greeting.starts_with("220 mx.t.example "));
            let ehlo = reply(d.command("EHLO sender.example", |_| false));
            assert_eq!(ehlo.contains("STARTTLS"), has, "{mode:?}: {ehlo}");
            assert_eq!(ehlo.contains("XXXXXXXA"), masked, "{mode:?}: {ehlo}");
            let starttls = d.command("STARTTLS", |_| false);
            assert_eq!(matches!(starttls, Step::StartTls(_)), has, "{mode:?}");
        }
    }

    #[test]
    fn only_a_live_token_gets_a_message_and_never_twice_in_one() {
        let live = |a: &str| a == "tok123@dane-valid.t.example";
        let (mut d, _) = Dialogue::new("mx.dane-valid.t.example", Receiver::Tls);
        assert!(reply(d.command("MAIL FROM:<a@b.example>", live)).starts_with("503"));
        assert!(reply(d.command("EHLO s.example", live)).starts_with("250-"));
        assert!(matches!(d.command("STARTTLS", live), Step::StartTls(_)));
        d.tls_started();
        let again = reply(d.command("EHLO s.example", live));
        assert!(!again.contains("STARTTLS"), "not offered twice: {again}");
        assert!(reply(d.command("MAIL FROM:<>", live)).starts_with("250"));
        assert!(reply(d.command("RCPT TO:<other@relay.example>", live)).starts_with("550"));
        assert!(reply(d.command("DATA", live)).starts_with("503"));
        assert!(reply(d.command("rcpt to:<TOK123@Dane-Valid.T.Example>", live)).starts_with("250"));
        assert!(reply(d.command("RCPT TO:<tok123@dane-valid.t.example>", live)).starts_with("452"));
        assert!(matches!(d.command("DATA", live), Step::Data(_)));
        assert_eq!(d.recipient(), Some("tok123@dane-valid.t.example"));
        assert!(reply(d.message_end(MAX_MESSAGE + 1)).starts_with("552"));
        // The transaction is over: DATA again needs MAIL and RCPT first.
        assert!(reply(d.command("DATA", live)).starts_with("503"));
        assert!(matches!(d.command("QUIT", live), Step::Close(_)));
    }

    #[test]
    fn long_lines_and_endless_commands_are_bounded() {
        let (mut d, _) = Dialogue::new("mx.t.example", Receiver::Plain);
        let long = format!("EHLO {}", "a".repeat(MAX_LINE));
        assert!(reply(d.command(&long, |_| false)).starts_with("500"));
        let mut last = Step::Reply(String::new());
        for _ in 0..MAX_COMMANDS {
            last = d.command("NOOP", |_| false);
        }
        assert!(matches!(last, Step::Close(r) if r.starts_with("421")));
        assert_eq!(path("RCPT TO:no-brackets@x", "TO:"), None);
        assert_eq!(path("RCPT é€x", "TO:"), None);
        assert_eq!(
            path("MAIL FROM: <A@B.example> SIZE=10", "FROM:").as_deref(),
            Some("a@b.example")
        );
    }
}
