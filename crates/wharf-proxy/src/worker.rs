//! The data plane's threads: one per core, each a single-threaded runtime with its own
//! listener on the data address (`SO_REUSEPORT`: the kernel spreads connections over
//! them) and its own upstream pools ([`crate::target::Target::client`]), so a request, its
//! client connection and its upstream connection never wake another thread — nginx's
//! model. The control API and health probes run on the caller's runtime.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;

use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

thread_local! {
    /// This thread's worker index (0 on threads that are not workers).
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// How many data-plane threads run: one per core the process may use (at least 1).
pub(crate) fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The worker this thread is (0 outside the workers).
pub(crate) fn index() -> usize {
    INDEX.with(Cell::get)
}

/// A listener on `addr` that other listeners may share (`SO_REUSEPORT`), as a std socket
/// so it can move to a worker's runtime.
fn reusable(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(1024)?;
    let std = listener.into_std()?;
    Ok(std)
}

/// Binds the first listener (its port is the data plane's, when `addr` asks for port 0).
///
/// `SO_REUSEPORT` would also let this process join a port another one listens on (a
/// second `wharf proxy` on the same address, sharing its traffic in silence): a plain bind
/// first makes a port in use an error, as it is without the option.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    if addr.port() != 0 {
        let probe = std::net::TcpListener::bind(addr)?;
        drop(probe);
    }
    reusable(addr)
}

/// The running workers; dropping this stops them (connections in progress end).
pub(crate) struct Workers {
    stop: CancellationToken,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts [`count`] workers: the first serves `first`, the others listeners of their
    /// own on `addr`; each runs `serve(listener)` until stopped.
    pub(crate) fn start<F, Fut>(
        first: std::net::TcpListener,
        addr: SocketAddr,
        serve: F,
    ) -> std::io::Result<Workers>
    where
        F: Fn(TcpListener) -> Fut + Send + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let stop = CancellationToken::new();
        let mut listeners = vec![first];
        for _ in 1..count() {
            listeners.push(reusable(addr)?);
        }
        let mut threads = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            l.set_nonblocking(true)?;
            let (serve, stop) = (serve.clone(), stop.clone());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let t = std::thread::Builder::new()
                .name(format!("wharf-proxy-{i}"))
                .spawn(move || {
                    INDEX.with(|c| c.set(i));
                    runtime.block_on(async move {
                        let Ok(listener) = TcpListener::from_std(l) else {
                            return;
                        };
                        tokio::select! {
                            () = serve(listener) => {}
                            () = stop.cancelled() => {}
                        }
                    });
                })?;
            threads.push(t);
        }
        Ok(Workers { stop, threads })
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
