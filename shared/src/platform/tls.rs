//! TLS trust for every outgoing connection: the system's root certificates, read once per
//! process and shared by the AWS SDK's client and every reqwest client.
//!
//! Each of them would otherwise read the trust store (a bundle plus a directory of certificates)
//! on its own: the AWS SDK once when its credentials chain is built, reqwest once per client. The
//! control center builds five clients at init: six readings; its init
//! went from 41 ms to 17 ms (docs/performance.md).

use std::sync::{Arc, OnceLock};

use aws_smithy_http_client::tls::{TlsContext, TrustStore};
use base64::Engine;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// The system's roots that rustls accepts (unparsable ones are skipped, as the SDK and reqwest
/// skip them), read on first use.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(error = %error, "a system root certificate could not be read");
        }
        let mut store = RootCertStore::empty();
        found
            .certs
            .into_iter()
            .filter(|cert| store.add(cert.clone()).is_ok())
            .collect()
    })
}

/// rustls' configuration for reqwest: ring, TLS 1.2 and 1.3, the system's roots. `None` when
/// the system has none (reqwest then tries, and reports, on its own).
pub fn client_config() -> Option<&'static rustls::ClientConfig> {
    static CONFIG: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = system_roots();
            if roots.is_empty() {
                return None;
            }
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(roots.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .with_root_certificates(store)
                .with_no_client_auth();
            // What reqwest offers when it builds its own (HTTP/1 only: no `http2` feature).
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(config)
        })
        .as_ref()
}

/// The AWS SDK's trust store: the same roots, handed over as PEM (the SDK's only way in), so it
/// does not read them again. The SDK's own reading of the system's store when there are none.
pub fn sdk_tls_context() -> TlsContext {
    static PEM: OnceLock<Vec<u8>> = OnceLock::new();
    let roots = system_roots();
    let trust = if roots.is_empty() {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(PEM.get_or_init(|| pem(roots)).clone())
    };
    TlsContext::builder()
        .with_trust_store(trust)
        .build()
        // Building a context checks nothing today; should it ever, the SDK's default holds.
        .unwrap_or_default()
}

fn pem(certs: &[CertificateDer<'_>]) -> Vec<u8> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(certs.iter().map(|c| c.len() * 4 / 3 + 80).sum());
    for cert in certs {
        out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        let encoded = engine.encode(cert.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_sdk_gets_exactly_the_roots_reqwest_trusts() {
        let roots = system_roots();
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem(roots))
            .collect::<Result<_, _>>()
            .expect("our PEM parses");
        assert_eq!(back.as_slice(), roots);
        // Every one of them is one the SDK's `RootCertStore::add` accepts (it panics otherwise).
        let mut store = RootCertStore::empty();
        for cert in back {
            store.add(cert).expect("accepted");
        }
    }
}
