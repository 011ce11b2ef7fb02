//! The probe's TLS client: it offers the signature schemes of one key type (to make a
//! dual-certificate server show each chain), accepts any chain — the core judges it — while
//! still checking the handshake signature, keeps the server's first bytes so a ServerHello it
//! refuses is still evidence, and records what the handshake negotiated.

use std::sync::Arc;

use mxtls_core::evidence::{Bytes, KeyTypeOffer, TlsEvidence};
use mxtls_core::names::DnsName;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

/// The most certificates, and bytes of them, a server's chain may hold before the probe stops
/// recording it (a limit reached is evidence).
pub const MAX_CHAIN_CERTS: usize = 10;
pub const MAX_CHAIN_BYTES: usize = 64 * 1024;

/// Signature schemes for a key-type offer: restricting them makes a dual-certificate server
/// present its other chain. A scheme's key type is the public key algorithm of the
/// verifiers rustls maps it to (its own key-type mapping), not a guess from its name.
fn schemes(offer: KeyTypeOffer, algs: &WebPkiSupportedAlgorithms) -> Vec<SignatureScheme> {
    use rustls::pki_types::alg_id;
    let key_type = |verifiers: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm]| {
        let ids: Vec<_> = verifiers.iter().map(|v| v.public_key_alg_id()).collect();
        if ids.iter().all(|id| *id == alg_id::RSA_ENCRYPTION) {
            Some(KeyTypeOffer::Rsa)
        } else if ids
            .iter()
            .all(|id| [alg_id::ECDSA_P256, alg_id::ECDSA_P384, alg_id::ECDSA_P521].contains(id))
        {
            Some(KeyTypeOffer::Ecdsa)
        } else if ids.iter().all(|id| *id == alg_id::ED25519) {
            Some(KeyTypeOffer::Ed25519)
        } else {
            None
        }
    };
    algs.mapping
        .iter()
        .filter(|(_, verifiers)| offer == KeyTypeOffer::Any || key_type(verifiers) == Some(offer))
        .map(|(scheme, _)| *scheme)
        .collect()
}

/// A stream that keeps the first [`TAP_BYTES`] bytes read from it.
pub(crate) struct Tap<S> {
    inner: S,
    pub(crate) seen: Arc<std::sync::Mutex<Vec<u8>>>,
}

/// Enough for any ServerHello (the certificates that follow are not needed).
const TAP_BYTES: usize = 4096;

impl<S> Tap<S> {
    pub(crate) fn new(inner: S) -> Tap<S> {
        Tap {
            inner,
            seen: Arc::new(std::sync::Mutex::new(Vec::new())),
        }
    }

    /// The stream read from.
    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &poll
            && let Ok(mut seen) = self.seen.lock()
        {
            let room = TAP_BYTES.saturating_sub(seen.len());
            let new = &buf.filled()[before..];
            seen.extend_from_slice(&new[..new.len().min(room)]);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What a finished handshake shows: version, suite, group and the chain (bounded).
pub(crate) fn tls_evidence(conn: &rustls::ClientConnection, sni: &DnsName) -> TlsEvidence {
    let chain = conn.peer_certificates().unwrap_or_default();
    let mut total = 0usize;
    let chain: Vec<Bytes> = chain
        .iter()
        .take(MAX_CHAIN_CERTS)
        .take_while(|c| {
            total += c.len();
            total <= MAX_CHAIN_BYTES
        })
        .map(|c| Bytes(c.to_vec()))
        .collect();
    TlsEvidence {
        sni: sni.clone(),
        version: conn
            .protocol_version()
            .map(|v| mxtls_core::tls::TlsVersion(u16::from(v))),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .map(|s| mxtls_core::tls::CipherSuite(u16::from(s.suite()))),
        kx_group: conn
            .negotiated_key_exchange_group()
            .map(|g| mxtls_core::tls::NamedGroup(u16::from(g.name()))),
        chain,
    }
}

/// A client that offers the signature schemes of `offer` and accepts any chain (the core
/// judges it), still checking the handshake signature. Shared with the world's tests, which
/// speak their own SMTP but need the same TLS client.
pub fn client_config(offer: KeyTypeOffer) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let verifier = RecordingVerifier {
        schemes: schemes(offer, &algs),
        algs,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts every chain (the core judges it) but verifies the handshake signature with the
/// presented key.
#[derive(Debug)]
struct RecordingVerifier {
    schemes: Vec<SignatureScheme>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schemes offered for a key type are those rustls verifies with that key type.
    #[test]
    fn schemes_follow_rustls_key_types() {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let names = |offer| -> Vec<String> {
            schemes(offer, &algs)
                .iter()
                .map(|s| format!("{s:?}"))
                .collect()
        };
        let rsa = names(KeyTypeOffer::Rsa);
        let ecdsa = names(KeyTypeOffer::Ecdsa);
        assert!(
            !rsa.is_empty() && rsa.iter().all(|n| n.starts_with("RSA_")),
            "{rsa:?}"
        );
        assert!(
            !ecdsa.is_empty() && ecdsa.iter().all(|n| n.starts_with("ECDSA_")),
            "{ecdsa:?}"
        );
        assert!(
            rsa.iter().any(|n| n.starts_with("RSA_PSS")),
            "PSS is RSA too"
        );
        assert_eq!(names(KeyTypeOffer::Ed25519), ["ED25519"]);
        assert_eq!(
            names(KeyTypeOffer::Any).len(),
            algs.mapping.len(),
            "everything when any key type will do"
        );
    }
}
