//! The world's private PKI, made fresh at every start: a root, an intermediate, and leaf
//! certificates with ECDSA and RSA keys. The root is written out so that the probe can be told
//! to trust it (`--pkix-roots`), standing in for a public CA.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, PublicKeyData,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// A certificate with its key, DER and PEM.
pub struct Leaf {
    /// Presented chain, leaf first.
    pub chain: Vec<Vec<u8>>,
    pub key_der: Vec<u8>,
    pub key_pem: String,
    pub chain_pem: String,
    spki: Vec<u8>,
}

impl Leaf {
    /// `3 1 1` association data: SHA-256 of the leaf's SubjectPublicKeyInfo.
    pub fn spki_sha256(&self) -> String {
        spki_sha256(&self.spki)
    }
}

/// Key algorithms the world issues.
#[derive(Clone, Copy)]
pub enum KeyAlg {
    Ecdsa,
    Rsa,
}

pub struct Pki {
    pub root_der: Vec<u8>,
    pub root_pem: String,
    root_spki: Vec<u8>,
    pub inter_der: Vec<u8>,
    inter_pem: String,
    inter_spki: Vec<u8>,
    inter: Issuer<'static, KeyPair>,
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "mxtls test world");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    params
}

impl Pki {
    pub fn new() -> Result<Pki, Error> {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let root_params = ca_params("mxtls world root CA");
        let root = root_params.self_signed(&root_key)?;
        let root_spki = root_key.subject_public_key_info();
        let root_issuer = Issuer::new(root_params, root_key);

        let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let inter_params = ca_params("mxtls world intermediate CA");
        let inter = inter_params.signed_by(&inter_key, &root_issuer)?;
        let inter_spki = inter_key.subject_public_key_info();
        Ok(Pki {
            root_der: root.der().to_vec(),
            root_pem: root.pem(),
            root_spki,
            inter_der: inter.der().to_vec(),
            inter_pem: inter.pem(),
            inter_spki,
            inter: Issuer::new(inter_params, inter_key),
        })
    }

    /// A leaf for `names`, valid now (or expired), with its chain.
    pub fn leaf(
        &self,
        names: &[String],
        alg: KeyAlg,
        expired: bool,
        with_intermediate: bool,
    ) -> Result<Leaf, Error> {
        let (from, until) = if expired { (-400, -30) } else { (-1, 90) };
        self.leaf_valid(names, alg, (from, until), with_intermediate)
    }

    /// A leaf valid from `days.0` to `days.1` days from now, with its chain.
    pub fn leaf_valid(
        &self,
        names: &[String],
        alg: KeyAlg,
        days: (i64, i64),
        with_intermediate: bool,
    ) -> Result<Leaf, Error> {
        let key = match alg {
            KeyAlg::Ecdsa => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            KeyAlg::Rsa => KeyPair::generate_for(&PKCS_RSA_SHA256)?,
        };
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().map(String::as_str).unwrap_or("mxtls world"),
        );
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        (params.not_before, params.not_after) =
            (now + Duration::days(days.0), now + Duration::days(days.1));
        let cert = params.signed_by(&key, &self.inter)?;
        let mut chain = vec![cert.der().to_vec()];
        let mut chain_pem = cert.pem();
        if with_intermediate {
            chain.push(self.inter_der.clone());
            chain_pem.push_str(&self.inter_pem);
        }
        Ok(Leaf {
            chain,
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
            chain_pem,
            spki: key.subject_public_key_info(),
        })
    }

    /// `2 1 1` data for the intermediate CA.
    pub fn intermediate_spki_sha256(&self) -> String {
        spki_sha256(&self.inter_spki)
    }

    /// `0 1 1` data for the root CA.
    pub fn root_spki_sha256(&self) -> String {
        spki_sha256(&self.root_spki)
    }
}

fn spki_sha256(spki: &[u8]) -> String {
    Sha256::digest(spki)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
