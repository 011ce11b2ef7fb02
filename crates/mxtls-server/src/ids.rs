//! Keys nobody can guess: watch ids, confirmation tokens, job and session ids.

/// 128 random bits from the OS as 32 hex digits. `None` when the OS gives no randomness:
/// never hand out a guessable key.
pub fn random_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
