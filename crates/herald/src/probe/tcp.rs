//! `tcp = "host:port"`: ready once a TCP connect succeeds.

use super::{InvalidProbe, io_reason};
use crate::{BoxFuture, CheckKind, Probe};
use std::net::Ipv6Addr;
use std::time::Duration;
use tokio::net::TcpStream;

/// Ready once a TCP connect to `host:port` succeeds; the connection is closed at once.
///
/// The host is resolved on every attempt (a name may appear late), and each attempt is bounded
/// by a connect timeout (1 s by default). The reason on failure is the connect error, such as
/// `connection refused`.
///
/// ```
/// use herald::probe::TcpProbe;
/// use herald::{CheckKind, Probe};
/// let probe = TcpProbe::new("127.0.0.1:2379")?;
/// assert_eq!((probe.kind(), probe.target()), (CheckKind::Tcp, "127.0.0.1:2379".to_string()));
/// assert!(TcpProbe::new("2379").is_err());
/// # Ok::<(), herald::probe::InvalidProbe>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpProbe {
    addr: String,
    connect_timeout: Duration,
}

impl TcpProbe {
    /// A probe of `addr`, written `host:port` (`[::1]:80` for an IPv6 address, a port from 1
    /// to 65535); anything else is refused with the reason.
    pub fn new(addr: impl Into<String>) -> Result<Self, InvalidProbe> {
        let addr = addr.into();
        check_host_port(&addr)?;
        Ok(Self {
            addr,
            connect_timeout: Duration::from_secs(1),
        })
    }

    /// The address, as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Bounds each connect attempt (1 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

impl Probe for TcpProbe {
    fn kind(&self) -> CheckKind {
        CheckKind::Tcp
    }

    fn target(&self) -> String {
        self.addr.clone()
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
        let connect = async {
            TcpStream::connect(&self.addr)
                .await
                .map(drop)
                .map_err(|e| io_reason(&e))
        };
        Box::pin(super::bounded(
            self.connect_timeout,
            "connect timed out after",
            connect,
        ))
    }
}

/// Checks that `addr` is `host:port`: a non-empty host (an IPv6 address in brackets) and a
/// port from 1 to 65535.
pub(crate) fn check_host_port(addr: &str) -> Result<(), InvalidProbe> {
    let bad = |why: &str| InvalidProbe::new(format!("{addr:?} is not host:port: {why}"));
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(bad("no port"));
    };
    match port.parse::<u16>() {
        Ok(0) => return Err(bad("the port is 0")),
        Ok(_) => {}
        Err(_) => return Err(bad("the port is not a number from 1 to 65535")),
    }
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ok = inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok());
        if !ok {
            return Err(bad("a bracketed host must be an IPv6 address"));
        }
    } else if host.contains(':') {
        return Err(bad("write an IPv6 address in brackets, as [::1]:80"));
    } else if host
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '[' || c == ']')
    {
        return Err(bad("the host is not a name or an address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn refused_then_accepted_once_a_listener_binds() {
        // Find a free port, then close it so the first attempt is refused.
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let probe = TcpProbe::new(format!("127.0.0.1:{port}")).unwrap();
        let reason = probe.probe().await.unwrap_err();
        assert_eq!(reason, "connection refused");

        let _listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        probe.probe().await.unwrap();
        // Attempts are independent: it passes again.
        probe.probe().await.unwrap();
    }

    #[tokio::test]
    async fn an_unresolvable_host_fails_with_a_reason() {
        let probe = TcpProbe::new("no-such-host.invalid:80").unwrap();
        let reason = probe.probe().await.unwrap_err();
        assert!(!reason.is_empty());
    }

    #[test]
    fn host_port_forms() {
        for good in ["127.0.0.1:1", "[::1]:65535", "localhost:80", "a.b-c:9"] {
            check_host_port(good).unwrap();
        }
        for bad in [
            "",
            "80",
            ":80",
            "host:",
            "host:0",
            "host:65536",
            "::1:80",
            "[::1:80",
            "[x]:80",
            "a b:80",
            "http://x:80",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
    }
}
