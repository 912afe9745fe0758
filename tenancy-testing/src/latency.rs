//! A TCP proxy on loopback that delays every byte by a fixed time in each direction, so that a
//! benchmark can measure what a network round trip costs each side without a second machine.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::EmbeddedError;
use crate::error::io_error;

/// A proxy from a port on 127.0.0.1 to `target`, adding `round_trip / 2` of latency to each
/// direction. Bytes keep their order and are not held back by the ones behind them: each chunk
/// is sent when its own delay has passed, so the added latency does not limit throughput (as a
/// long link would not). Stops accepting when dropped; connections already open run until
/// either side closes them.
#[derive(Debug)]
pub struct LatencyProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl LatencyProxy {
    /// Starts the proxy on a free port of 127.0.0.1.
    ///
    /// # Errors
    /// [`EmbeddedError::Io`] when no port can be bound.
    pub fn start(target: SocketAddr, round_trip: Duration) -> Result<LatencyProxy, EmbeddedError> {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).map_err(io_error("bind the latency proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(io_error("read the latency proxy's address"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let one_way = round_trip / 2;
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                for (from, to) in [(&client, &server), (&server, &client)] {
                    if let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) {
                        forward(from, to, one_way);
                    }
                }
            }
        });
        Ok(LatencyProxy { addr, stop })
    }

    /// The address to connect to instead of the target.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read: one thread reads and stamps,
/// one sleeps until the stamp and writes.
fn forward(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        while let Ok((due, bytes)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes arrive intact and in order, and a round trip through the proxy takes at least
    /// the latency it adds (a lower bound, which sleeping guarantees on any machine).
    #[test]
    fn a_round_trip_carries_the_bytes_and_the_added_latency() {
        let echo = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let target = echo.local_addr().expect("addr");
        std::thread::spawn(move || {
            let (mut conn, _) = echo.accept().expect("accept");
            let mut buf = [0u8; 1024];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => conn.write_all(&buf[..n]).expect("echo"),
                }
            }
        });
        let proxy = LatencyProxy::start(target, Duration::from_millis(20)).expect("proxy");
        let mut client = TcpStream::connect(proxy.addr()).expect("connect");
        for round in 0..3u8 {
            let message = [round; 100];
            let start = Instant::now();
            client.write_all(&message).expect("send");
            let mut back = [0u8; 100];
            client.read_exact(&mut back).expect("receive");
            assert_eq!(back, message);
            assert!(
                start.elapsed() >= Duration::from_millis(20),
                "{:?}",
                start.elapsed()
            );
        }
    }
}
