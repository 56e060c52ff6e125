//! The accept loops: `<state_dir>/api.sock` always, a TCP address with `--listen`.
//!
//! Each listener serves at most [`MAX_CONNECTIONS`] connections at once; past that it stops
//! accepting until one closes (the kernel's backlog holds the rest). A request's head is
//! bounded ([`MAX_HEAD`]) and must arrive within [`HEAD_TIMEOUT`]; a body within
//! [`MAX_BODY`]. The unix socket is `0600` and serves only the user who started the stack
//! (checked by the peer's credentials, as the control socket does). With nobody connected,
//! the loops wait in `accept` and nothing wakes.

use super::super::serve::StackHandle;
use super::router::{Transport, router};
use super::{Config, SOCKET};
use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Connections one listener serves at once.
pub const MAX_CONNECTIONS: usize = 64;
/// The most a request's line and headers may take, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most a request's body may take, in bytes (actions have none).
pub const MAX_BODY: usize = 1024 * 1024;
/// How long a request's head may take to arrive.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The running listeners; dropped or [`stop`](Server::stop)ped, they close.
#[derive(Debug)]
pub struct Server {
    tasks: Vec<JoinHandle<()>>,
    socket: PathBuf,
    /// The TCP address served, once bound (`--listen 127.0.0.1:0` picks a port).
    pub tcp: Option<SocketAddr>,
}

impl Server {
    /// Stops accepting and removes the socket.
    pub fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The sockets, bound before the stack starts (a port in use stops `up` before anything
/// runs), not served yet.
#[derive(Debug)]
pub struct Bound {
    unix: std::os::unix::net::UnixListener,
    tcp: Option<std::net::TcpListener>,
    socket: PathBuf,
    config: Config,
}

/// Binds `<state_dir>/api.sock` and, with `config.listen`, the TCP address.
pub fn bind(config: Config, state_dir: &Path) -> anyhow::Result<Bound> {
    let socket = state_dir.join(SOCKET);
    let unix = bind_unix(&socket)?;
    let tcp = match config.listen {
        Some(addr) => {
            let tcp = std::net::TcpListener::bind(addr)
                .with_context(|| format!("--listen {addr}: cannot listen"))?;
            tcp.set_nonblocking(true)?;
            Some(tcp)
        }
        None => None,
    };
    Ok(Bound {
        unix,
        tcp,
        socket,
        config,
    })
}

impl Bound {
    /// Serves the running stack on both sockets until stopped.
    pub fn serve(self, shared: Arc<StackHandle>) -> anyhow::Result<Server> {
        let access = Arc::new(self.config);
        let mut tasks = Vec::new();
        let app = router(shared.clone(), access.clone(), Transport::Unix);
        let uid = rustix::process::getuid().as_raw();
        let unix = UnixListener::from_std(self.unix)?;
        tasks.push(tokio::spawn(accept_loop(Local { unix, uid }, app)));
        let mut tcp = None;
        if let Some(listener) = self.tcp {
            tcp = Some(listener.local_addr()?);
            let listener = TcpListener::from_std(listener)?;
            let app = router(shared, access, Transport::Tcp);
            tasks.push(tokio::spawn(accept_loop(listener, app)));
        }
        Ok(Server {
            tasks,
            socket: self.socket,
            tcp,
        })
    }
}

/// The socket at `path`, `0600`; a stale socket there is replaced, anything else refused.
fn bind_unix(path: &Path) -> anyhow::Result<std::os::unix::net::UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the old socket {}", path.display()))?,
        Ok(_) => anyhow::bail!(
            "{} is not a socket (a file, folder or symlink is there): refusing to replace it",
            path.display()
        ),
        Err(_) => {}
    }
    // A path too long for a socket address is bound through its folder, as the control
    // socket is.
    let (short, _dir) = super::super::control::reachable(path)
        .with_context(|| format!("cannot reach {}", path.display()))?;
    let listener = std::os::unix::net::UnixListener::bind(&short)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private", path.display()))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// A listener whose connections [`accept_loop`] serves.
trait Accept: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection; `None` for one to drop (or a failed accept).
    fn next(&mut self) -> impl Future<Output = Option<Self::Io>> + Send;
}

/// The unix socket, and the only user it serves.
struct Local {
    unix: UnixListener,
    uid: u32,
}

impl Accept for Local {
    type Io = tokio::net::UnixStream;
    async fn next(&mut self) -> Option<Self::Io> {
        let (stream, _) = accepted(self.unix.accept().await).await?;
        // Another user is refused at once, before a byte of HTTP is read.
        (stream.peer_cred().ok()?.uid() == self.uid).then_some(stream)
    }
}

impl Accept for TcpListener {
    type Io = tokio::net::TcpStream;
    async fn next(&mut self) -> Option<Self::Io> {
        let (stream, _) = accepted(self.accept().await).await?;
        let _ = stream.set_nodelay(true);
        Some(stream)
    }
}

/// An accepted connection; after a failed accept (out of file descriptors, say), a pause
/// first, so that the loop does not spin.
async fn accepted<T>(result: std::io::Result<T>) -> Option<T> {
    match result {
        Ok(accepted) => Some(accepted),
        Err(_) => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// Serves `app` on each connection `listener` accepts, at most [`MAX_CONNECTIONS`] at once.
async fn accept_loop(mut listener: impl Accept, app: axum::Router) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(stream) = listener.next().await else {
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_header_size(MAX_HEAD)
                .max_buf_size(MAX_HEAD * 2)
                .serve_connection(TokioIo::new(stream), service);
            let _ = connection.await;
        });
    }
}
