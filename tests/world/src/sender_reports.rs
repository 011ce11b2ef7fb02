//! TLS-RPT aggregate reports (RFC 8460 §4) written as two big senders write them, for the
//! tests that hold reports against the world: Google's (JSON, `no-policy-found`, no
//! `receiving-ip`, a day ending at 23:59:59) and Microsoft's (gzip as mailed, empty
//! `policy-string` and list-valued `mx-host`, IPv6 sending address, `receiving-ip`).

use std::io::Write;

/// Google's report for `domain`: 40 sessions succeeded on 2026-11-30 and `n` failed with
/// `result` at `host`.
pub fn google(domain: &str, host: &str, result: &str, n: u64) -> String {
    format!(
        r#"{{"organization-name":"Google Inc.","date-range":{{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"}},"contact-info":"smtp-tls-reporting@google.com","report-id":"2026-11-30T00:00:00Z_{domain}","policies":[{{"policy":{{"policy-type":"no-policy-found","policy-domain":"{domain}"}},"summary":{{"total-successful-session-count":40,"total-failure-session-count":{n}}},"failure-details":[{{"result-type":"{result}","sending-mta-ip":"209.85.220.41","receiving-mx-hostname":"{host}","failed-session-count":{n}}}]}}]}}"#
    )
}

/// Microsoft's gzipped report for `domain`: on 2026-12-01 `n` sessions failed with
/// `result` at `host` (`ip`), none succeeded.
pub fn microsoft_gz(domain: &str, host: &str, ip: &str, result: &str, n: u64) -> Vec<u8> {
    let json = format!(
        r#"{{"organization-name":"Microsoft Corporation","date-range":{{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-01T23:59:59Z"}},"contact-info":"tlsrpt-noreply@microsoft.com","report-id":"134092512000000000+{domain}","policies":[{{"policy":{{"policy-type":"no-policy-found","policy-string":[],"policy-domain":"{domain}","mx-host":[]}},"summary":{{"total-successful-session-count":0,"total-failure-session-count":{n}}},"failure-details":[{{"result-type":"{result}","sending-mta-ip":"2a01:111:f403:2c14::700","receiving-ip":"{ip}","receiving-mx-hostname":"{host}","failed-session-count":{n}}}]}}]}}"#
    );
    gzip(json.as_bytes())
}

/// `data` gzip-compressed, as reports are mailed (`.json.gz`) and posted
/// (`application/tlsrpt+gzip`).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(data);
    gz.finish().unwrap_or_default()
}
