//! Cipher suites by IANA code point, their names, and what their parts say about them.

use serde::{Deserialize, Serialize};

use super::{by_name, named};

/// A cipher suite (`0x1302` is TLS_AES_256_GCM_SHA384).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CipherSuite(pub u16);

/// How a suite stands for mail, after the NCSC-NL TLS guidelines (2021) that internet.nl
/// applies, with SHA-1 CBC suites apart: they are still what old senders share with a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuiteClass {
    /// TLS 1.3, or ECDHE with an AEAD cipher.
    Good,
    /// Forward secret with CBC and SHA-2, or finite-field DHE.
    Sufficient,
    /// Forward secret CBC with SHA-1 MACs (Lucky 13-prone, still widely shared).
    CbcSha1,
    /// No forward secrecy (RSA or static DH key exchange) or 3DES (64-bit blocks, Sweet32).
    PhaseOut,
    /// No authentication at all: what opportunistic senders, which do not check
    /// certificates, may use anyway.
    Anonymous,
    /// Broken or outside the guidelines: NULL encryption, export grade, RC4, single DES, RC2,
    /// IDEA, MD5, Camellia, SEED or DSA keys.
    Insufficient,
    /// A code point without a name here.
    Unknown,
}

impl CipherSuite {
    /// IANA names of the suites mail servers negotiate, old and broken ones included: the
    /// posture probe offers them and must name what a server picks.
    const NAMES: [(CipherSuite, &'static str); 78] = [
        (CipherSuite(0x1301), "TLS_AES_128_GCM_SHA256"),
        (CipherSuite(0x1302), "TLS_AES_256_GCM_SHA384"),
        (CipherSuite(0x1303), "TLS_CHACHA20_POLY1305_SHA256"),
        (CipherSuite(0x1304), "TLS_AES_128_CCM_SHA256"),
        (CipherSuite(0x1305), "TLS_AES_128_CCM_8_SHA256"),
        (
            CipherSuite(0xc02b),
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ),
        (
            CipherSuite(0xc02c),
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ),
        (CipherSuite(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        (CipherSuite(0xc030), "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        (
            CipherSuite(0xcca8),
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
        (
            CipherSuite(0xcca9),
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
        (
            CipherSuite(0xccaa),
            "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
        (CipherSuite(0x009e), "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
        (CipherSuite(0x009f), "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
        (
            CipherSuite(0xc023),
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        ),
        (
            CipherSuite(0xc024),
            "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        ),
        (CipherSuite(0xc027), "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
        (CipherSuite(0xc028), "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
        (CipherSuite(0x0067), "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
        (CipherSuite(0x006b), "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
        (CipherSuite(0xc009), "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
        (CipherSuite(0xc00a), "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
        (CipherSuite(0xc013), "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
        (CipherSuite(0xc014), "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
        (CipherSuite(0x0033), "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
        (CipherSuite(0x0039), "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
        (CipherSuite(0x0032), "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
        (CipherSuite(0x0038), "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
        (CipherSuite(0x0045), "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"),
        (CipherSuite(0x0088), "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
        (CipherSuite(0x002f), "TLS_RSA_WITH_AES_128_CBC_SHA"),
        (CipherSuite(0x0035), "TLS_RSA_WITH_AES_256_CBC_SHA"),
        (CipherSuite(0x003c), "TLS_RSA_WITH_AES_128_CBC_SHA256"),
        (CipherSuite(0x003d), "TLS_RSA_WITH_AES_256_CBC_SHA256"),
        (CipherSuite(0x009c), "TLS_RSA_WITH_AES_128_GCM_SHA256"),
        (CipherSuite(0x009d), "TLS_RSA_WITH_AES_256_GCM_SHA384"),
        (CipherSuite(0x0041), "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
        (CipherSuite(0x0084), "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"),
        (CipherSuite(0x0096), "TLS_RSA_WITH_SEED_CBC_SHA"),
        (CipherSuite(0xc008), "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
        (CipherSuite(0xc012), "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
        (CipherSuite(0x0016), "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
        (CipherSuite(0x0013), "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
        (CipherSuite(0x000a), "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        (CipherSuite(0x0034), "TLS_DH_anon_WITH_AES_128_CBC_SHA"),
        (CipherSuite(0x003a), "TLS_DH_anon_WITH_AES_256_CBC_SHA"),
        (CipherSuite(0x006c), "TLS_DH_anon_WITH_AES_128_CBC_SHA256"),
        (CipherSuite(0x006d), "TLS_DH_anon_WITH_AES_256_CBC_SHA256"),
        (CipherSuite(0x00a6), "TLS_DH_anon_WITH_AES_128_GCM_SHA256"),
        (CipherSuite(0x00a7), "TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
        (CipherSuite(0x001b), "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"),
        (CipherSuite(0xc018), "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"),
        (CipherSuite(0xc019), "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"),
        (CipherSuite(0xc017), "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA"),
        (CipherSuite(0xc016), "TLS_ECDH_anon_WITH_RC4_128_SHA"),
        (CipherSuite(0xc015), "TLS_ECDH_anon_WITH_NULL_SHA"),
        (CipherSuite(0x0018), "TLS_DH_anon_WITH_RC4_128_MD5"),
        (CipherSuite(0x0017), "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5"),
        (CipherSuite(0xc011), "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
        (CipherSuite(0xc007), "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
        (CipherSuite(0x0005), "TLS_RSA_WITH_RC4_128_SHA"),
        (CipherSuite(0x0004), "TLS_RSA_WITH_RC4_128_MD5"),
        (CipherSuite(0xc010), "TLS_ECDHE_RSA_WITH_NULL_SHA"),
        (CipherSuite(0xc006), "TLS_ECDHE_ECDSA_WITH_NULL_SHA"),
        (CipherSuite(0x0001), "TLS_RSA_WITH_NULL_MD5"),
        (CipherSuite(0x0002), "TLS_RSA_WITH_NULL_SHA"),
        (CipherSuite(0x003b), "TLS_RSA_WITH_NULL_SHA256"),
        (CipherSuite(0x0009), "TLS_RSA_WITH_DES_CBC_SHA"),
        (CipherSuite(0x0015), "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
        (CipherSuite(0x0007), "TLS_RSA_WITH_IDEA_CBC_SHA"),
        (CipherSuite(0x0003), "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
        (CipherSuite(0x0006), "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"),
        (CipherSuite(0x0008), "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"),
        (CipherSuite(0x0014), "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA"),
        (CipherSuite(0x0062), "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA"),
        (CipherSuite(0x0064), "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA"),
        (
            CipherSuite(0x0063),
            "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA",
        ),
        (
            CipherSuite(0x0065),
            "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA",
        ),
    ];

    /// The IANA name, or the code point in hex.
    pub fn name(self) -> String {
        named(&Self::NAMES, self).unwrap_or_else(|| format!("0x{:04x}", self.0))
    }

    /// The suite a name stands for: IANA names, and rustls's `TLS13_…` spelling of the TLS
    /// 1.3 suites that schema-1 evidence stored.
    pub fn from_name(name: &str) -> Option<CipherSuite> {
        let iana = name.replacen("TLS13_", "TLS_", 1);
        by_name(&Self::NAMES, &iana)
    }

    /// Every suite with a name here whose class is one of `classes`, in table order
    /// (strongest first within a class): the lists the posture probe offers.
    pub fn of_classes(classes: &[SuiteClass]) -> Vec<CipherSuite> {
        Self::NAMES
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| classes.contains(&s.class()))
            .collect()
    }

    /// A 3DES suite: 64-bit blocks (Sweet32), classed phase-out, offered with the weak ones.
    pub fn is_3des(self) -> bool {
        named(&Self::NAMES, self).is_some_and(|n| n.contains("_3DES_"))
    }

    /// A TLS 1.3 suite (no key exchange in its name).
    pub fn is_tls13(self) -> bool {
        self.0 >> 8 == 0x13
    }

    /// The suite's class, read from the parts of its IANA name.
    pub fn class(self) -> SuiteClass {
        let Some(name) = named(&Self::NAMES, self) else {
            return SuiteClass::Unknown;
        };
        if self.is_tls13() {
            return if name.ends_with("CCM_8_SHA256") {
                SuiteClass::Sufficient
            } else {
                SuiteClass::Good
            };
        }
        let Some((kx, cipher)) = name
            .strip_prefix("TLS_")
            .and_then(|n| n.split_once("_WITH_"))
        else {
            return SuiteClass::Unknown;
        };
        // NCSC-NL lists AES and ChaCha20 only: Camellia, SEED and DSA keys fall outside.
        let broken = ["NULL", "RC4", "RC2", "IDEA", "_40_", "CAMELLIA", "SEED"];
        if kx.contains("EXPORT")
            || kx.contains("DSS")
            || broken.iter().any(|b| cipher.contains(b))
            || cipher.starts_with("DES_")
            || cipher.ends_with("MD5")
        {
            return SuiteClass::Insufficient;
        }
        if kx.contains("anon") {
            return SuiteClass::Anonymous;
        }
        let ephemeral = kx.starts_with("ECDHE_") || kx.starts_with("DHE_");
        if !ephemeral || cipher.starts_with("3DES") {
            return SuiteClass::PhaseOut;
        }
        let aead = ["GCM", "CHACHA20", "CCM"]
            .iter()
            .any(|a| cipher.contains(a));
        match (kx.starts_with("ECDHE_"), aead, cipher.ends_with("_SHA")) {
            (true, true, _) => SuiteClass::Good,
            (_, false, true) => SuiteClass::CbcSha1,
            _ => SuiteClass::Sufficient,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_parts_of_the_name() {
        let class = |name: &str| CipherSuite::from_name(name).expect(name).class();
        assert_eq!(class("TLS_AES_256_GCM_SHA384"), SuiteClass::Good);
        assert_eq!(
            class("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            SuiteClass::Good
        );
        assert_eq!(
            class("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
            SuiteClass::Sufficient
        );
        assert_eq!(
            class("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
            SuiteClass::Sufficient
        );
        assert_eq!(
            class("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
            SuiteClass::CbcSha1
        );
        assert_eq!(
            class("TLS_RSA_WITH_AES_128_GCM_SHA256"),
            SuiteClass::PhaseOut
        );
        assert_eq!(
            class("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
            SuiteClass::PhaseOut
        );
        assert_eq!(
            class("TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
            SuiteClass::Anonymous
        );
        assert_eq!(
            class("TLS_ECDH_anon_WITH_NULL_SHA"),
            SuiteClass::Insufficient
        );
        assert_eq!(class("TLS_RSA_WITH_RC4_128_SHA"), SuiteClass::Insufficient);
        assert_eq!(class("TLS_RSA_WITH_DES_CBC_SHA"), SuiteClass::Insufficient);
        assert_eq!(
            class("TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA"),
            SuiteClass::Insufficient
        );
        assert_eq!(CipherSuite(0xfefe).class(), SuiteClass::Unknown);
    }

    #[test]
    fn every_named_suite_has_one_name_and_a_class() {
        for (suite, name) in CipherSuite::NAMES {
            assert_eq!(CipherSuite::from_name(name), Some(suite), "{name}");
            assert_ne!(suite.class(), SuiteClass::Unknown, "{name}");
            let same = CipherSuite::NAMES.iter().filter(|(s, _)| *s == suite);
            assert_eq!(same.count(), 1, "{name} listed twice");
        }
        // The weak offer stays well under the 128 suites some servers choke on.
        let weak = CipherSuite::of_classes(&[SuiteClass::Insufficient, SuiteClass::Anonymous]);
        assert!(weak.len() > 20 && weak.len() < 64, "{}", weak.len());
    }
}
