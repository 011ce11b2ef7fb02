//! How long each step of a check may take. Every wait of the probe has one of these limits,
//! and each is also cut short by the whole check's deadline, so a server or resolver that
//! stalls at any step costs at most that step's limit.
//!
//! The defaults are what a public checker needs against real servers; tests shorten them to
//! prove that a stall at each step ends on time.

use std::time::Duration;

/// The limit of each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// TCP connect to port 25.
    pub connect: Duration,
    /// The SMTP greeting. Postscreen, greet-pause and tarpits delay it on purpose: at least
    /// 30 s before calling it a failure.
    pub banner: Duration,
    /// One SMTP command and its reply (EHLO, STARTTLS).
    pub command: Duration,
    /// The TLS handshake after STARTTLS.
    pub handshake: Duration,
    /// One DNS question, with its validation chase.
    pub dns_query: Duration,
    /// The whole MTA-STS policy fetch, connection to last byte (not reset by each byte).
    pub policy_fetch: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            connect: Duration::from_secs(10),
            banner: Duration::from_secs(35),
            command: Duration::from_secs(15),
            handshake: Duration::from_secs(15),
            dns_query: Duration::from_secs(10),
            policy_fetch: Duration::from_secs(20),
        }
    }
}
