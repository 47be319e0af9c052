//! `gpu-mlp draw`: a local web page to draw on, and the model naming what was drawn.
//!
//! `DrawServer` listens on one address (loopback unless the user asks otherwise), answers each
//! connection on its own thread (at most `MAX_CONNECTIONS` at once, slow clients giving way to
//! new ones: see `slots`) and serves the page embedded in the binary plus a JSON API:
//!
//! - `GET /api/model`: class names, input shape, data set, network;
//! - `POST /api/predict`: the drawing as `image/png` (what `canvas.toBlob` gives) or as JSON
//!   `{"width", "height", "pixels"}` (grey, row-major, 0..=255); the answer holds the class
//!   probabilities and the `rows × cols` input the model saw after `preprocess::prepare` (the same
//!   preprocessing as `gpu-mlp predict`).
//!
//! The predictor is a trait object (`Predictor`), so the server is tested with a closure and run
//! with the trained classifier.

pub mod app;
pub mod budget;
pub mod http;
pub mod slots;

pub use app::{App, ModelInfo, Predictor};
pub use http::Limits;

use slots::{Phase, Slot, Slots};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// Connections answered at the same time; more get a 503 at once unless a slow one gives way.
pub const MAX_CONNECTIONS: usize = 16;

/// Failures of starting or running the draw server.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// The model could not be loaded (the message names the file and the problem).
    #[error(transparent)]
    Model(#[from] gpu_mlp::Error),
    // The I/O errors are part of the message, not a `source`, so `{:#}` prints them once.
    #[error("--host '{host}' is not an address or a name this machine can resolve: {error}")]
    Resolve { host: String, error: io::Error },
    #[error(
        "cannot listen on {addr}: {error}{}",
        if error.kind() == io::ErrorKind::AddrInUse {
            "; another program uses this port: choose another with --port (0 picks a free one)"
        } else {
            ""
        }
    )]
    Bind { addr: SocketAddr, error: io::Error },
    #[error("the draw server stopped: {0}")]
    Accept(io::Error),
}

/// Resolves `--host` and `--port` to the address to listen on (the first one the name gives).
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, DrawError> {
    // A bare IPv6 address is accepted without brackets.
    let target = match host.parse::<IpAddr>() {
        Ok(ip) => return Ok(SocketAddr::new(ip, port)),
        Err(_) => (host, port),
    };
    let resolve_error = |error| DrawError::Resolve {
        host: host.to_string(),
        error,
    };
    target
        .to_socket_addrs()
        .map_err(resolve_error)?
        .next()
        .ok_or_else(|| {
            resolve_error(io::Error::new(
                io::ErrorKind::NotFound,
                "the name has no address",
            ))
        })
}

/// A bound, not yet running server.
pub struct DrawServer {
    listener: TcpListener,
    app: Arc<App>,
    limits: Limits,
    stop: Arc<AtomicBool>,
}

impl DrawServer {
    /// Listens on `addr`. A loopback address answers only requests naming the loopback host;
    /// any other address (e.g. `0.0.0.0`, on the user's explicit `--host`) answers every host.
    pub fn bind(
        addr: SocketAddr,
        info: ModelInfo,
        predictor: Box<dyn Predictor>,
        limits: Limits,
    ) -> Result<Self, DrawError> {
        let listener = TcpListener::bind(addr).map_err(|error| DrawError::Bind { addr, error })?;
        let any_host = !addr.ip().is_loopback();
        Ok(Self {
            listener,
            app: Arc::new(App::new(info, predictor, any_host, &limits)),
            limits,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The address actually bound (its port is the chosen one when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        // Cannot fail on a bound listener; fall back to the unspecified address for the types.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The page's URL. On an unspecified address (all interfaces) it names localhost, which
    /// reaches it from this machine.
    pub fn url(&self) -> String {
        page_url(self.local_addr())
    }

    pub fn info(&self) -> &ModelInfo {
        self.app.info()
    }

    /// Serves until the process ends (or `ServerHandle::shutdown` when spawned).
    pub fn serve(self) -> Result<(), DrawError> {
        budget::return_freed_pictures();
        let slots = Slots::new(MAX_CONNECTIONS, self.limits.evict_after);
        for stream in self.listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let stream = match stream {
                Ok(s) => s,
                // A connection that failed before we took it (reset, too many open files):
                // the next one may be fine.
                Err(e) if is_transient(&e) => continue,
                Err(e) => return Err(DrawError::Accept(e)),
            };
            let Some(slot) = slots.admit(&stream) else {
                refuse_busy(stream, &self.limits);
                continue;
            };
            let (app, limits) = (Arc::clone(&self.app), self.limits);
            // A failed spawn drops the closure, its stream and its slot: the client sees a close.
            let _ = thread::Builder::new()
                .name("draw-connection".into())
                .spawn(move || handle_connection(stream, &app, &limits, &slot));
        }
        Ok(())
    }

    /// Serves on a background thread; the handle stops it.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let addr = self.local_addr();
        let stop = Arc::clone(&self.stop);
        let thread = thread::Builder::new()
            .name("draw-server".into())
            .spawn(move || self.serve())?;
        Ok(ServerHandle {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

/// A server running on a background thread; dropping it stops the server.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), DrawError>>>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        page_url(self.addr)
    }

    /// Stops accepting connections and waits for the accept loop to end (connections being
    /// answered finish on their own threads).
    pub fn shutdown(mut self) -> Result<(), DrawError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), DrawError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let wake = if self.addr.ip().is_unspecified() {
            SocketAddr::new(loopback_like(self.addr.ip()), self.addr.port())
        } else {
            self.addr
        };
        let _ = TcpStream::connect(wake);
        match thread.join() {
            Ok(result) => result,
            Err(_) => Err(DrawError::Accept(io::Error::other(
                "the server thread panicked",
            ))),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

fn handle_connection(mut stream: TcpStream, app: &App, limits: &Limits, slot: &Slot) {
    let response = match http::read_request(&mut stream, limits) {
        Ok(request) => {
            slot.set_phase(Phase::Answering);
            app.handle(&request)
        }
        Err(http::ReadError::Reject(response)) => response,
        Err(http::ReadError::Gone(_)) if slot.was_evicted() => http::Response::error(
            408,
            "the request was still arriving when the server needed the connection for others",
        ),
        Err(http::ReadError::Gone(_)) => return,
    };
    slot.set_phase(Phase::Answering);
    // A client that left before reading its answer is not the server's problem.
    if http::send(&mut stream, &response, limits).is_ok() {
        slot.set_phase(Phase::Lingering);
        http::discard_input(&mut stream);
    }
}

/// Answers 503 without ever waiting for the client: this runs on the accepting thread.
fn refuse_busy(mut stream: TcpStream, limits: &Limits) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let response = http::Response::error(503, "too many connections at once; try again");
    // A few hundred bytes fit the socket's send buffer; a client whose buffer is full misses it.
    if http::send(&mut stream, &response, limits).is_ok() {
        // Reads only what already arrived (non-blocking), so closing does not reset the answer.
        http::discard_input(&mut stream);
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24) // ENFILE, EMFILE
}

fn loopback_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(_) => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    }
}

fn page_url(addr: SocketAddr) -> String {
    let port = addr.port();
    match addr.ip() {
        ip if ip.is_unspecified() => format!("http://localhost:{port}/"),
        IpAddr::V6(ip) => format!("http://[{ip}]:{port}/"),
        IpAddr::V4(ip) => format!("http://{ip}:{port}/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_reachable_host() {
        assert_eq!(
            page_url("127.0.0.1:8000".parse().unwrap()),
            "http://127.0.0.1:8000/"
        );
        assert_eq!(
            page_url("0.0.0.0:80".parse().unwrap()),
            "http://localhost:80/"
        );
        assert_eq!(
            page_url("[::1]:8000".parse().unwrap()),
            "http://[::1]:8000/"
        );
    }

    #[test]
    fn hosts_resolve() {
        assert_eq!(
            resolve("127.0.0.1", 5).unwrap(),
            "127.0.0.1:5".parse().unwrap()
        );
        assert_eq!(resolve("::1", 5).unwrap(), "[::1]:5".parse().unwrap());
        assert!(resolve("localhost", 5).unwrap().ip().is_loopback());
        assert!(matches!(
            resolve("no such host.invalid", 5),
            Err(DrawError::Resolve { .. })
        ));
    }
}
