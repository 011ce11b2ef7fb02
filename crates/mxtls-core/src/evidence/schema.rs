//! Older schemas, read into the current one.

use crate::tls::{CipherSuite, NamedGroup, TlsVersion};

/// Schema 1 → 2: the TLS parameters of every handshake (SMTP sessions and the MTA-STS policy
/// fetch) from names to code points. A name this code does not know becomes "not recorded",
/// which is all schema 1 could say about it.
pub fn migrate_v1(value: &mut serde_json::Value) {
    fn tls(t: &mut serde_json::Value) {
        let Some(t) = t.as_object_mut() else { return };
        let code = |v: Option<&serde_json::Value>, f: fn(&str) -> Option<u16>| {
            v.and_then(|v| v.as_str())
                .and_then(f)
                .map_or(serde_json::Value::Null, serde_json::Value::from)
        };
        let version = code(t.get("version"), |n| TlsVersion::from_name(n).map(|v| v.0));
        let suite = code(t.get("cipher_suite"), |n| {
            CipherSuite::from_name(n).map(|v| v.0)
        });
        let group = code(t.get("kx_group"), |n| NamedGroup::from_name(n).map(|v| v.0));
        t.insert("version".into(), version);
        t.insert("cipher_suite".into(), suite);
        t.insert("kx_group".into(), group);
    }
    if let Some(hosts) = value.get_mut("hosts").and_then(|h| h.as_array_mut()) {
        for host in hosts {
            let addresses = host.get_mut("addresses").and_then(|a| a.as_array_mut());
            for address in addresses.into_iter().flatten() {
                let sessions = address.get_mut("sessions").and_then(|s| s.as_array_mut());
                for session in sessions.into_iter().flatten() {
                    if let Some(t) = session.get_mut("tls") {
                        tls(t);
                    }
                }
            }
        }
    }
    if let Some(t) = value.pointer_mut("/mta_sts/policy/tls") {
        tls(t);
    }
    value["schema"] = serde_json::Value::from(2);
}
