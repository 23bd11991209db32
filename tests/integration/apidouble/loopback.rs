//! Loopback listeners that really receive what is sent to their address: ports the host's
//! NAT already claims are skipped.
//!
//! Why: rootful Podman publishes a container's host port with the CNI `portmap` plugin, which
//! DNATs every connection to that port on any local address, 127.0.0.1 included (the
//! `OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT` rule), without keeping the port
//! bound on the host. `bind(127.0.0.1:0)` can therefore hand out a port whose connections
//! never reach the listener: they go to the container, and are refused when nothing listens
//! there. Seen here: a container another run left behind published 0.0.0.0:43157->8080, a
//! test's API double got port 43157, and kubetest's `GET /version` was refused.

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How long a probe connection may take to be connected and accepted (the machine is shared
/// and busy; a port that fails is set aside, not retried, so a slow answer costs one port).
const PROBE_PATIENCE: Duration = Duration::from_secs(5);

/// A listener on 127.0.0.1 whose own connections arrive at it.
pub fn listener() -> TcpListener {
    // Ports found claimed stay bound until a good one is found, so bind(0) cannot hand
    // them out again.
    let mut claimed = Vec::new();
    for _ in 0..64 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        if receives_its_own_connection(&l) {
            return l;
        }
        claimed.push(l);
    }
    let ports: Vec<u16> = claimed
        .iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect();
    panic!(
        "no loopback port receives its own connections (tried {ports:?}): see `iptables -t nat -S`"
    );
}

/// Connect to the listener's address and see the connection accepted by it (and not by a
/// container the port is forwarded to).
fn receives_its_own_connection(l: &TcpListener) -> bool {
    let Ok(addr) = l.local_addr() else {
        return false;
    };
    let Ok(probe) = TcpStream::connect_timeout(&addr, PROBE_PATIENCE) else {
        return false;
    };
    let Ok(me) = probe.local_addr() else {
        return false;
    };
    if l.set_nonblocking(true).is_err() {
        return false;
    }
    let deadline = Instant::now() + PROBE_PATIENCE;
    let received = loop {
        match l.accept() {
            Ok((_, peer)) if peer == me => break true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => break false,
        }
    };
    l.set_nonblocking(false).is_ok() && received
}
