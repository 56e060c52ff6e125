//! `grpc = "addr"`: ready once grpc.health.v1 `Check` answers `SERVING`.

use super::InvalidProbe;
use super::tcp::check_host_port;
use crate::{BoxFuture, CheckKind, Probe};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Ready once the standard gRPC health service (`grpc.health.v1.Health/Check`) answers
/// `SERVING` for a service (`""`, the whole server, by default).
///
/// The address is `host:port` (plain HTTP/2, no TLS) or `unix:///absolute/path` (also
/// `unix:relative/path`). The channel is made on the first attempt and reused: it connects
/// lazily and reconnects as needed. Each attempt is bounded (5 s by default; connecting, 1 s).
///
/// The reason on failure is `status NOT_SERVING` (or `SERVICE_UNKNOWN`, `UNKNOWN`), the gRPC
/// error (`NotFound: unknown service`), or the transport error.
///
/// ```
/// use herald::probe::GrpcProbe;
/// use herald::Probe;
/// let probe = GrpcProbe::new("127.0.0.1:50051")?.service("etcdserverpb.KV");
/// assert_eq!(probe.target(), "127.0.0.1:50051 etcdserverpb.KV");
/// assert!(GrpcProbe::new("http://127.0.0.1:50051").is_err());
/// # Ok::<(), herald::probe::InvalidProbe>(())
/// ```
#[derive(Debug, Clone)]
pub struct GrpcProbe {
    addr: String,
    // Boxed: an endpoint is large, and a probe is held in every spec that checks gRPC.
    endpoint: Box<Endpoint>,
    service: String,
    timeout: Duration,
    channel: OnceLock<Channel>,
}

impl GrpcProbe {
    /// A probe of the server at `addr`: `host:port` or `unix:///path` (a relative
    /// `unix:path` is taken from the process's current folder).
    pub fn new(addr: &str) -> Result<Self, InvalidProbe> {
        Self::build(addr, None)
    }

    /// As [`new`](Self::new), with a relative `unix:path` taken from `base_dir`.
    pub fn with_base_dir(addr: &str, base_dir: &Path) -> Result<Self, InvalidProbe> {
        Self::build(addr, Some(base_dir))
    }

    fn build(addr: &str, base_dir: Option<&Path>) -> Result<Self, InvalidProbe> {
        let uri = if let Some(rest) = addr.strip_prefix("unix:") {
            let path = match rest.strip_prefix("//") {
                Some(absolute) if absolute.starts_with('/') => Path::new(absolute).to_path_buf(),
                Some(_) => {
                    return Err(InvalidProbe::new(format!(
                        "{addr:?}: a unix address needs an absolute path, as unix:///run/app.sock"
                    )));
                }
                None if rest.is_empty() => {
                    return Err(InvalidProbe::new(format!("{addr:?}: the path is empty")));
                }
                None => match base_dir {
                    Some(base) => base.join(rest),
                    None => Path::new(rest).to_path_buf(),
                },
            };
            let Some(path) = path.to_str() else {
                return Err(InvalidProbe::new(format!(
                    "{addr:?}: the socket path is not UTF-8"
                )));
            };
            format!("unix:{path}")
        } else {
            check_host_port(addr)
                .map_err(|e| InvalidProbe::new(format!("{} (or unix:///path)", e.reason)))?;
            format!("http://{addr}")
        };
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| InvalidProbe::new(format!("{addr:?} is not a gRPC address: {e}")))?
            .connect_timeout(Duration::from_secs(1));
        Ok(Self {
            addr: addr.to_string(),
            endpoint: Box::new(endpoint),
            service: String::new(),
            timeout: Duration::from_secs(5),
            channel: OnceLock::new(),
        })
    }

    /// The service whose health is checked (`""`, the whole server, by default).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// Bounds each attempt (5 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The address, as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The service whose health is checked (`""`: the whole server).
    pub fn service_name(&self) -> &str {
        &self.service
    }

    async fn attempt(&self) -> Result<(), String> {
        // Made here, not in `new`: a channel needs a running runtime.
        let channel = self
            .channel
            .get_or_init(|| self.endpoint.connect_lazy())
            .clone();
        let mut client = HealthClient::new(channel);
        let request = HealthCheckRequest {
            service: self.service.clone(),
        };
        let answer = client.check(request).await.map_err(|s| status_reason(&s))?;
        match answer.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(format!("status {}", other.as_str_name())),
        }
    }
}

/// Two probes are equal when they check the same service at the same place, the same way.
impl PartialEq for GrpcProbe {
    fn eq(&self, other: &Self) -> bool {
        (&self.addr, self.endpoint.uri(), &self.service, self.timeout)
            == (
                &other.addr,
                other.endpoint.uri(),
                &other.service,
                other.timeout,
            )
    }
}

impl Eq for GrpcProbe {}

impl Probe for GrpcProbe {
    fn kind(&self) -> CheckKind {
        CheckKind::Grpc
    }

    fn target(&self) -> String {
        if self.service.is_empty() {
            self.addr.clone()
        } else {
            format!("{} {}", self.addr, self.service)
        }
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(super::bounded(
            self.timeout,
            "no answer within",
            self.attempt(),
        ))
    }
}

/// A gRPC error as a reason: its code, its message, then what the transport error's chain
/// adds (`Unavailable: tcp connect error: connection refused`).
fn status_reason(status: &tonic::Status) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut add = |part: String| {
        let lower = part.to_lowercase();
        let known = parts.iter().any(|p| p.to_lowercase().contains(&lower));
        if !part.is_empty() && lower != "transport error" && !known {
            parts.push(part);
        }
    };
    add(super::io_reason_text(status.message()));
    let mut source = std::error::Error::source(status);
    while let Some(inner) = source {
        add(super::io_reason_text(&inner.to_string()));
        source = inner.source();
    }
    let mut text = format!("{:?}", status.code());
    for part in parts {
        text.push_str(": ");
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, UnixListener};
    use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
    use tonic_health::ServingStatus as Health;

    #[tokio::test]
    async fn not_serving_then_serving() {
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter.set_service_status("", Health::NotServing).await;
        reporter
            .set_service_status("app.v1.App", Health::NotServing)
            .await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );

        let whole = GrpcProbe::new(&addr.to_string()).unwrap();
        let app = GrpcProbe::new(&addr.to_string())
            .unwrap()
            .service("app.v1.App");
        assert_eq!(whole.probe().await.unwrap_err(), "status NOT_SERVING");
        assert_eq!(app.probe().await.unwrap_err(), "status NOT_SERVING");

        reporter.set_service_status("", Health::Serving).await;
        whole.probe().await.unwrap();
        assert_eq!(app.probe().await.unwrap_err(), "status NOT_SERVING");
        reporter
            .set_service_status("app.v1.App", Health::Serving)
            .await;
        app.probe().await.unwrap();

        let unknown = GrpcProbe::new(&addr.to_string()).unwrap().service("nope");
        let reason = unknown.probe().await.unwrap_err();
        assert!(reason.starts_with("NotFound"), "{reason}");
    }

    #[tokio::test]
    async fn refused_until_the_server_is_up_on_the_same_channel() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let probe = GrpcProbe::new(&format!("127.0.0.1:{port}")).unwrap();
        let reason = probe.probe().await.unwrap_err();
        assert_eq!(reason, "Unavailable: tcp connect error: connection refused");
        let reason = probe.probe().await.unwrap_err();
        assert!(reason.contains("connection refused"), "{reason}");

        let (_reporter, service) = tonic_health::server::health_reporter();
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        // The lazily connected channel reconnects; allow for the reconnect to be noticed.
        let mut last = String::new();
        for _ in 0..200 {
            match probe.probe().await {
                Ok(()) => return,
                Err(reason) => last = reason,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("never passed: {last}");
    }

    #[tokio::test]
    async fn over_a_unix_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grpc.sock");
        let (_reporter, service) = tonic_health::server::health_reporter();
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(UnixListenerStream::new(listener)),
        );
        let absolute = format!("unix://{}", path.display());
        GrpcProbe::new(&absolute).unwrap().probe().await.unwrap();
        // A relative `unix:` address, from the base folder.
        let relative = GrpcProbe::with_base_dir("unix:grpc.sock", dir.path()).unwrap();
        relative.probe().await.unwrap();

        let missing = format!("unix://{}", dir.path().join("none.sock").display());
        let reason = GrpcProbe::new(&missing).unwrap().probe().await.unwrap_err();
        assert_eq!(reason, "Unavailable: no such file or directory");
    }

    #[test]
    fn addresses() {
        for good in [
            "127.0.0.1:50051",
            "[::1]:1",
            "unix:///run/a.sock",
            "unix:a.sock",
        ] {
            GrpcProbe::new(good).unwrap();
        }
        for bad in [
            "",
            "50051",
            "unix:",
            "unix://",
            "unix://relative",
            "http://x:1",
        ] {
            assert!(GrpcProbe::new(bad).is_err(), "{bad}");
        }
    }
}
