//! One client, one keep-alive connection, one request at a time: each request's latency, from the
//! moment its bytes are written to the moment its whole response is read, on a blocking socket with
//! TCP_NODELAY. Prints `{"n", "non200", "p50", "p90", "p99", "p999"}` (milliseconds) as JSON.
//!
//!     one-client URL SECONDS [PUBLISHABLE_KEY]
//!
//! With a key, each request tokenizes one test card (as token.lua sends it); without, it is a GET of the
//! URL. wrk times the same thing inside its event loop; this client does nothing else, so its tail is
//! the server's and the machine's. Built by scripts/bench-server.sh with rustc alone (std only).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn request(path: &str, host: &str, key: Option<&str>) -> Vec<u8> {
    let Some(key) = key else {
        return format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes();
    };
    let body = r#"{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2034,"cvc":"123"}}"#;
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one response (framed by Content-Length) into `buf[..*have]`; answers its status and keeps
/// whatever follows it.
fn read_response(sock: &mut TcpStream, buf: &mut Vec<u8>, have: &mut usize) -> std::io::Result<u16> {
    loop {
        if let Some(end) = buf[..*have].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let length: usize = head
                .split("\r\n")
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let whole = end + 4 + length;
            if *have >= whole {
                buf.copy_within(whole..*have, 0);
                *have -= whole;
                return Ok(status);
            }
        }
        if *have == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = sock.read(&mut buf[*have..])?;
        if n == 0 {
            return Err(std::io::Error::other("the server closed the connection"));
        }
        *have += n;
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: one-client URL SECONDS [PUBLISHABLE_KEY]");
        std::process::exit(2);
    }
    let rest = args[1].strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let seconds: f64 = args[2].parse().expect("SECONDS: a number");
    let req = request(path, host, args.get(3).map(String::as_str));

    let mut sock = TcpStream::connect(host)?;
    sock.set_nodelay(true)?;
    let (mut buf, mut have) = (vec![0u8; 64 * 1024], 0usize);
    let (mut latencies, mut non200) = (Vec::new(), 0usize);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    loop {
        let start = Instant::now();
        if start > end {
            break;
        }
        sock.write_all(&req)?;
        let status = read_response(&mut sock, &mut buf, &mut have)?;
        latencies.push(start.elapsed());
        non200 += usize::from(status != 200);
    }
    latencies.sort();
    let n = latencies.len();
    let at = |q: f64| latencies[((n as f64 * q) as usize).min(n - 1)].as_secs_f64() * 1000.0;
    println!(
        "{{\"n\": {n}, \"non200\": {non200}, \"p50\": {:.3}, \"p90\": {:.3}, \"p99\": {:.3}, \"p999\": {:.3}}}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999)
    );
    Ok(())
}
