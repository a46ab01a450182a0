//! TLS without a proxy (`serve --tls-cert FILE --tls-key FILE`): the certificate and key as a
//! rustls configuration that SIGHUP replaces, so a renewed certificate applies without a restart.
//!
//! Each new connection takes the configuration current at its accept; open connections keep the
//! one they began with. A reload that fails (a missing, invalid or mismatched file) changes
//! nothing, so a half-written renewal never takes the server off the air.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} {path}: {source}")]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("--tls-cert {0}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate(PathBuf),
    #[error("--tls-cert {path}: invalid PEM: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error(
        "--tls-key {path}: no usable PEM private key in it (expected -----BEGIN PRIVATE KEY----- or an \
         RSA or EC key): {reason}"
    )]
    NoKey { path: PathBuf, reason: String },
    #[error("--tls-key {key} is not the key of the certificate in --tls-cert {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("--tls-cert {cert} and --tls-key {key}: {reason}")]
    Invalid { cert: PathBuf, key: PathBuf, reason: String },
}

/// The TLS settings of a server: the files, and the configuration last loaded from them.
#[derive(Clone)]
pub struct Tls {
    cert: Arc<PathBuf>,
    key: Arc<PathBuf>,
    current: Arc<RwLock<Arc<rustls::ServerConfig>>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

impl Tls {
    /// Loads the certificate chain and key, refusing what would fail at the first handshake.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let config = server_config(cert, key)?;
        Ok(Tls {
            cert: Arc::new(cert.to_path_buf()),
            key: Arc::new(key.to_path_buf()),
            current: Arc::new(RwLock::new(Arc::new(config))),
        })
    }

    /// Reads the files again; on success new connections get the new certificate, on failure
    /// the old one stays. Blocking (reads files).
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        Ok(())
    }

    /// The acceptor for a connection accepted now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner())))
    }
}

fn server_config(cert_path: &Path, key_path: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let read = |what, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.to_path_buf(), source })
    };
    let (cert_pem, key_pem) = (read("certificate", cert_path)?, read("key", key_path)?);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate { path: cert_path.to_path_buf(), reason: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_path.to_path_buf()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| TlsError::NoKey { path: key_path.to_path_buf(), reason: e.to_string() })?;
    // The provider named rather than taken from the crate features, so a dependency that turns
    // on another provider cannot make the builder panic for having two.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(cert_path, key_path, e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                TlsError::Mismatch { cert: cert_path.to_path_buf(), key: key_path.to_path_buf() }
            }
            other => invalid(cert_path, key_path, other),
        })?;
    // HTTP/1.1 only, as the server speaks.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn invalid(cert: &Path, key: &Path, e: rustls::Error) -> TlsError {
    TlsError::Invalid { cert: cert.to_path_buf(), key: key.to_path_buf(), reason: e.to_string() }
}
