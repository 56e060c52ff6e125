//! `http = "URL"`: ready once a GET answers 2xx (or exactly `status`).

use super::{InvalidProbe, io_reason, one_line};
use crate::{BoxFuture, CheckKind, Probe};
use http::header::{HOST, USER_AGENT};
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How much of a failing answer's body the reason quotes.
const BODY_START: usize = 100;

type TlsConfig = Result<Arc<ClientConfig>, String>;

/// Ready once a GET on a URL answers with a 2xx status, or exactly [`status`](Self::status)
/// when one is required.
///
/// Each attempt opens a fresh HTTP/1.1 connection (no pooled connection can hide a restarted
/// server), sends one GET and closes; redirects are not followed (a 3xx is not ready unless it
/// is the required status). `https` URLs are checked against the system's trusted roots, or
/// not at all with [`insecure_tls`](Self::insecure_tls); the TLS configuration is built once
/// per probe. Each attempt is bounded (5 s by default).
///
/// The reason on failure says what was seen: `status 503: <the start of the body, one line>`,
/// or the connect or TLS error.
///
/// ```
/// use herald::probe::HttpProbe;
/// use herald::{CheckKind, Probe};
/// let probe = HttpProbe::new("https://127.0.0.1:6443/readyz")?.insecure_tls(true);
/// assert_eq!(probe.kind(), CheckKind::Http);
/// assert!(HttpProbe::new("ftp://example.com/").is_err());
/// assert!(probe.status(600).is_err());
/// # Ok::<(), herald::probe::InvalidProbe>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpProbe {
    url: String,
    /// What the request line asks for: the path and query.
    path: String,
    /// The `Host` header: the host, and the port when the URL gives one.
    authority: String,
    /// The host to connect to, without IPv6 brackets.
    host: String,
    port: u16,
    https: bool,
    status: Option<u16>,
    insecure_tls: bool,
    timeout: Duration,
    tls: OnceLock<TlsConfig>,
}

impl HttpProbe {
    /// A probe of `url`, which must be an absolute `http://` or `https://` URL with a host.
    pub fn new(url: &str) -> Result<Self, InvalidProbe> {
        let uri: Uri = url
            .parse()
            .map_err(|e| InvalidProbe::new(format!("{url:?} is not a URL: {e}")))?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(InvalidProbe::new(format!(
                    "{url:?}: the scheme {other:?} is not http or https"
                )));
            }
            None => {
                return Err(InvalidProbe::new(format!(
                    "{url:?} is not a URL: it needs a scheme and host, as http://127.0.0.1:8080/health"
                )));
            }
        };
        let bracketed = uri.host().unwrap_or_default();
        let host = bracketed.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(InvalidProbe::new(format!("{url:?} has no host")));
        }
        let authority = match uri.port_u16() {
            Some(port) => format!("{bracketed}:{port}"),
            None => bracketed.to_string(),
        };
        let port = match uri.port_u16() {
            Some(0) => return Err(InvalidProbe::new(format!("{url:?}: the port is 0"))),
            Some(port) => port,
            None if https => 443,
            None => 80,
        };
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .to_string();
        Ok(Self {
            url: url.to_string(),
            path,
            authority,
            host: host.to_string(),
            port,
            https,
            status: None,
            insecure_tls: false,
            timeout: Duration::from_secs(5),
            tls: OnceLock::new(),
        })
    }

    /// Requires exactly this status code (100 to 599) instead of any 2xx.
    pub fn status(mut self, status: u16) -> Result<Self, InvalidProbe> {
        if !(100..=599).contains(&status) {
            return Err(InvalidProbe::new(format!(
                "{status} is not an HTTP status (100 to 599)"
            )));
        }
        self.status = Some(status);
        Ok(self)
    }

    /// The URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The one status code required, if not any 2xx.
    pub fn required_status(&self) -> Option<u16> {
        self.status
    }

    /// Whether certificate checks are skipped.
    pub fn skips_tls_checks(&self) -> bool {
        self.insecure_tls
    }

    /// Skips certificate checks for `https` (self-signed and otherwise untrusted servers).
    pub fn insecure_tls(mut self, insecure: bool) -> Self {
        if insecure != self.insecure_tls {
            self.insecure_tls = insecure;
            self.tls = OnceLock::new();
        }
        self
    }

    /// Bounds each attempt, from connect to the answer (5 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn tls_config(&self) -> TlsConfig {
        self.tls
            .get_or_init(|| tls_config(self.insecure_tls))
            .clone()
    }

    async fn attempt(&self) -> Result<(), String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| io_reason(&e))?;
        let _ = tcp.set_nodelay(true);
        if !self.https {
            return self.exchange(TokioIo::new(tcp)).await;
        }
        let config = self.tls_config()?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| format!("{:?} is not a TLS server name: {e}", self.host))?;
        let tls = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {}", io_reason(&e)))?;
        self.exchange(TokioIo::new(tls)).await
    }

    /// One GET over a fresh connection.
    async fn exchange<T>(&self, io: T) -> Result<(), String>
    where
        T: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        // The connection ends once the request, its answer and the sender are dropped, and
        // at the latest when the attempt's bound passes.
        let bound = self.timeout;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(bound, connection).await;
        });
        let request = Request::get(self.path.as_str())
            .header(HOST, self.authority.as_str())
            .header(USER_AGENT, concat!("herald/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        let passed = match self.status {
            Some(want) => status.as_u16() == want,
            None => status.is_success(),
        };
        if passed {
            return Ok(());
        }
        let mut body = response.into_body();
        let mut start = Vec::new();
        while start.len() < BODY_START * 2 {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        start.extend_from_slice(data);
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
        let start = one_line(&start, BODY_START);
        let mut reason = format!("status {}", status.as_u16());
        if let Some(want) = self.status {
            reason.push_str(&format!(" (want {want})"));
        }
        if !start.is_empty() {
            reason.push_str(": ");
            reason.push_str(&start);
        }
        Err(reason)
    }
}

/// Two probes are equal when they make the same request and judge the answer the same way.
impl PartialEq for HttpProbe {
    fn eq(&self, other: &Self) -> bool {
        (&self.url, self.status, self.insecure_tls, self.timeout)
            == (&other.url, other.status, other.insecure_tls, other.timeout)
    }
}

impl Eq for HttpProbe {}

impl Probe for HttpProbe {
    fn kind(&self) -> CheckKind {
        CheckKind::Http
    }

    fn target(&self) -> String {
        self.url.clone()
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(super::bounded(
            self.timeout,
            "no answer within",
            self.attempt(),
        ))
    }
}

/// An error and its sources, `: `-separated (hyper's own text is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn tls_config(insecure: bool) -> TlsConfig {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        if roots.is_empty() {
            return Err(
                "no trusted root certificates found on this system (insecure_tls skips the check)"
                    .to_string(),
            );
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any server certificate (`insecure_tls`); handshake signatures are still checked,
/// so the connection is encrypted, only not authenticated.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Response;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    /// Serves HTTP/1.1 on 127.0.0.1, port 0: the n-th request (from 1) is answered by
    /// `answer(n)`. With `tls`, over TLS with a fresh self-signed certificate.
    async fn serve(
        tls: bool,
        answer: impl Fn(u32) -> (u16, &'static str) + Send + Sync + 'static,
    ) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tls.then(|| {
            let cert = rcgen::generate_simple_self_signed(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ])
            .unwrap();
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
            let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap();
            TlsAcceptor::from(Arc::new(config))
        });
        let answer = Arc::new(answer);
        let count = Arc::new(AtomicU32::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let answer = answer.clone();
                let count = count.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                        let (status, body) = answer(n);
                        assert_eq!(request.method(), http::Method::GET);
                        async move {
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(body.as_bytes())))
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(acceptor) => {
                            // A client that refuses the certificate ends the handshake.
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                let _ = http.serve_connection(TokioIo::new(tls), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn unavailable_then_ok_with_the_status_and_body_in_the_reason() {
        let addr = serve(false, |n| {
            if n == 1 {
                (503, "etcd is still\nstarting: waiting for quorum")
            } else {
                (200, "ok")
            }
        })
        .await;
        let probe = HttpProbe::new(&format!("http://{addr}/health?verbose=1")).unwrap();
        assert_eq!(
            probe.probe().await.unwrap_err(),
            "status 503: etcd is still starting: waiting for quorum"
        );
        probe.probe().await.unwrap();
    }

    #[tokio::test]
    async fn a_long_body_is_cut() {
        let addr = serve(false, |_| (500, include_str!("mod.rs"))).await;
        let probe = HttpProbe::new(&format!("http://{addr}/")).unwrap();
        let reason = probe.probe().await.unwrap_err();
        assert!(
            reason.starts_with("status 500: //! The outside"),
            "{reason}"
        );
        assert!(reason.ends_with("..."), "{reason}");
        assert!(reason.len() < 130, "{reason}");
        assert!(!reason.contains('\n'), "{reason}");
    }

    #[tokio::test]
    async fn a_required_status_must_match_exactly() {
        let addr = serve(false, |n| if n == 1 { (200, "") } else { (204, "") }).await;
        let probe = HttpProbe::new(&format!("http://{addr}/"))
            .unwrap()
            .status(204)
            .unwrap();
        assert_eq!(probe.probe().await.unwrap_err(), "status 200 (want 204)");
        probe.probe().await.unwrap();
        // Without a required status, 204 is a 2xx and passes.
        HttpProbe::new(&format!("http://{addr}/"))
            .unwrap()
            .probe()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_redirect_is_not_ready() {
        let addr = serve(false, |_| (302, "")).await;
        let probe = HttpProbe::new(&format!("http://{addr}/")).unwrap();
        assert_eq!(probe.probe().await.unwrap_err(), "status 302");
    }

    #[tokio::test]
    async fn nothing_listening_is_refused() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let probe = HttpProbe::new(&format!("http://127.0.0.1:{port}/")).unwrap();
        assert_eq!(probe.probe().await.unwrap_err(), "connection refused");
    }

    #[tokio::test]
    async fn self_signed_https_passes_only_with_insecure_tls() {
        let addr = serve(true, |_| (200, "ok")).await;
        let url = format!("https://localhost:{}/readyz", addr.port());
        let strict = HttpProbe::new(&url).unwrap();
        let reason = strict.probe().await.unwrap_err();
        assert!(
            reason.starts_with("TLS handshake failed") || reason.starts_with("no trusted root"),
            "{reason}"
        );
        let insecure = HttpProbe::new(&url).unwrap().insecure_tls(true);
        insecure.probe().await.unwrap();
        // The TLS configuration is built once and reused across attempts.
        let built: *const TlsConfig = insecure.tls.get().expect("built by the first attempt");
        insecure.probe().await.unwrap();
        assert!(std::ptr::eq(built, insecure.tls.get().unwrap()));
        // An IP address works as the server name too.
        HttpProbe::new(&format!("https://{addr}/"))
            .unwrap()
            .insecure_tls(true)
            .probe()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn plain_http_to_a_tls_server_fails_with_a_reason() {
        let addr = serve(true, |_| (200, "ok")).await;
        let probe = HttpProbe::new(&format!("http://{addr}/")).unwrap();
        let reason = probe.probe().await.unwrap_err();
        assert!(!reason.is_empty());
    }

    #[test]
    fn urls() {
        let probe = HttpProbe::new("http://[::1]:8080/a/b?c=d").unwrap();
        assert_eq!(
            (probe.host.as_str(), probe.port, probe.authority.as_str()),
            ("::1", 8080, "[::1]:8080")
        );
        assert_eq!(probe.path, "/a/b?c=d");
        let probe = HttpProbe::new("HTTPS://example.com").unwrap();
        assert_eq!(
            (probe.port, probe.https, probe.path.as_str()),
            (443, true, "/")
        );
        for bad in [
            "",
            "example.com",
            "/health",
            "ftp://x/",
            "http://",
            "http://x:0/",
        ] {
            assert!(HttpProbe::new(bad).is_err(), "{bad}");
        }
    }
}
