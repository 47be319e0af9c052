//! The draw server under abuse: slow and idle clients, a thousand malformed requests, more
//! connections than it answers at once, concurrent uploads of huge images. After each, a valid
//! request is still answered correctly, and memory stays bounded. Loopback only, bounded loops.
//!
//! The tests take turns (`SERIAL`): they measure the process's memory and count connections.

use crate::fixture::{png, post, shape_info, shape_predictor, start};
use gpu_mlp_cli::draw::{Limits, ServerHandle, MAX_CONNECTIONS};
use rand::{Rng, SeedableRng};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn start_with(limits: Limits) -> ServerHandle {
    start(shape_info(), Box::new(shape_predictor(28, 28)), limits)
}

/// The answer to a valid drawing: a tall stroke must be named "tall". Returns the status.
fn predict_a_stroke(addr: SocketAddr) -> u16 {
    let answer = post(
        &format!("http://{addr}/api/predict"),
        "image/png",
        &png(60, 60, &[(25, 5, 8, 50)]),
    );
    if answer.status == 200 {
        assert_eq!(answer.json()["label"], "tall", "{}", answer.text());
    }
    answer.status
}

/// A field of /proc/self/status in bytes (Linux), e.g. `VmRSS` or `VmHWM`.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets the process's peak memory (VmHWM) to its current size (Linux).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Sends `head` one byte every `every` until the server answers or closes, at most `head.len()`
/// bytes; returns what the server sent and how many bytes went out.
fn trickle(addr: SocketAddr, head: &[u8], every: Duration) -> (String, usize) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(every)).expect("a timeout");
    let mut reply = Vec::new();
    let mut sent = 0;
    for &byte in head {
        if stream.write_all(&[byte]).is_err() {
            break;
        }
        sent += 1;
        let mut buf = [0u8; 1024];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("a timeout");
                let _ = stream.read_to_end(&mut reply);
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&reply).into_owned(), sent)
}

const SLOW_HEAD: &[u8] = b"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: a very slow client that sends one byte at a time, for as long as the server lets it\r\n\r\n";

#[test]
fn a_request_trickling_in_is_cut_off_at_its_deadline() {
    let _turn = serial();
    let server = start_with(Limits {
        io_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        ..Limits::default()
    });
    // Each byte comes well within the 2 s between bytes; the whole head would take ~15 s.
    let (reply, sent) = trickle(server.local_addr(), SLOW_HEAD, Duration::from_millis(100));
    assert!(reply.starts_with("HTTP/1.1 408 "), "got '{reply}'");
    assert!(
        sent < SLOW_HEAD.len(),
        "the whole head went out: {sent} bytes"
    );
}

#[test]
fn slow_and_idle_clients_cannot_lock_out_quick_ones() {
    let _turn = serial();
    let server = start_with(Limits {
        io_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
        evict_after: Duration::from_millis(300),
        ..Limits::default()
    });
    let addr = server.local_addr();

    // Sixteen clients trickling a byte every 200 ms hold every slot...
    let tricklers: Vec<_> = (0..MAX_CONNECTIONS)
        .map(|_| thread::spawn(move || trickle(addr, SLOW_HEAD, Duration::from_millis(200))))
        .collect();
    thread::sleep(Duration::from_millis(600));
    // ...yet quick clients are answered while they trickle.
    for _ in 0..3 {
        assert_eq!(predict_a_stroke(addr), 200, "a quick client was refused");
    }
    for trickler in tricklers {
        let (reply, sent) = trickler.join().expect("a trickling client");
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 408 "),
            "a slow client got '{reply}'"
        );
        assert!(sent < SLOW_HEAD.len());
    }

    // Twenty idle sockets do not block it either.
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    thread::sleep(Duration::from_millis(600));
    assert_eq!(predict_a_stroke(addr), 200, "idle sockets locked it out");
    drop(idle);
}

/// One malformed request of kind `kind` (varied by `rng`), and whether the server must answer
/// it (a client that leaves half-way gets nothing).
fn malformed(kind: usize, rng: &mut rand_pcg::Pcg64) -> (Vec<u8>, bool) {
    let host = "Host: 127.0.0.1\r\n";
    let n: u32 = rng.random_range(0..1000);
    let text = |s: String| (s.into_bytes(), true);
    match kind {
        0 => {
            let len = rng.random_range(1..300);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            bytes.extend_from_slice(b"\r\n\r\n");
            (bytes, true)
        }
        1 => text(format!("get /api/model HTTP/1.1\r\n{host}\r\n")),
        2 => text(format!("GET /api/model HTTP/1.1\r\nX-Id: {n}\r\n\r\n")),
        3 => text(format!(
            "POST /api/predict HTTP/1.1\r\n{host}Content-Length: {}\r\n\r\n",
            ["-1", "ten", "1e3", "0x10", "99999999999999999999999"][n as usize % 5]
        )),
        4 => text(format!(
            "POST /api/predict HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )),
        5 => text(format!(
            "GET / HTTP/1.1\r\n{host}{}\r\n",
            (0..60 + n % 40).map(|i| format!("X-{i}: y\r\n")).collect::<String>()
        )),
        6 => text(format!(
            "GET / HTTP/1.1\r\n{host}X-Long: {}\r\n\r\n",
            "a".repeat(17_000 + n as usize)
        )),
        7 => {
            let mut bytes = format!("GET / HTTP/1.1\r\n{host}X-Bin: ").into_bytes();
            bytes.extend_from_slice(&[0xff, 0xfe, 0x80, n as u8]);
            bytes.extend_from_slice(b"\r\n\r\n");
            (bytes, true)
        }
        8 => text(format!("GET /a\0b HTTP/1.1\r\n{host}\r\n")),
        9 => text(format!("GET / HTTP/{}.{}\r\n{host}\r\n", 2 + n % 3, n % 10)),
        10 => text(format!(
            "POST /api/predict HTTP/1.1\r\n{host}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
        )),
        11 => text(format!(
            "POST /api/predict HTTP/1.1\r\n{host}Expect: {n}-continue\r\nContent-Length: 1\r\n\r\nx"
        )),
        12 => text(format!("GET /api/model HTTP/1.1\r\nHost: evil{n}.example\r\n\r\n")),
        13 => text(format!("GET /api/{n} HTTP/1.1\r\n{host}\r\n")),
        14 => text(format!("DELETE /api/model HTTP/1.1\r\n{host}\r\n")),
        15 => text(format!("GET http://127.0.0.1/ HTTP/1.1\r\n{host}\r\n")),
        16 => text(format!("GET / HTTP/1.1\r\n{host}No colon here\r\n\r\n")),
        17 => {
            let body = format!("{{\"width\": {n}, \"height\": 2, \"pixels\": [1, 2");
            text(format!(
                "POST /api/predict HTTP/1.1\r\n{host}Content-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            ))
        }
        18 => {
            let mut body = b"\x89PNG\r\n\x1a\n".to_vec();
            body.extend((0..n % 200).map(|_| rng.random::<u8>()));
            let mut bytes = format!(
                "POST /api/predict HTTP/1.1\r\n{host}Content-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            bytes.extend_from_slice(&body);
            (bytes, true)
        }
        19 => text(format!(
            "POST /api/predict HTTP/1.1\r\n{host}Content-Type: image/png\r\nContent-Length: {}\r\n\r\n",
            3 * 1024 * 1024 + n
        )),
        20 => {
            let bytes = format!(
                "POST /api/predict HTTP/1.1\r\n{host}Content-Type: image/png\r\nContent-Length: 900\r\n\r\nabc"
            );
            (bytes.into_bytes(), false)
        }
        _ => {
            let head = format!("GET /api/model HTTP/1.1\r\n{host}\r\n").into_bytes();
            let cut = rng.random_range(1..head.len() - 2);
            (head[..cut].to_vec(), false)
        }
    }
}

const MALFORMED_KINDS: usize = 22;

/// Sends `bytes` and reads the answer; a client that leaves early closes right after sending.
fn send_raw(addr: SocketAddr, bytes: &[u8], wait_for_answer: bool) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let _ = stream.write_all(bytes);
    if !wait_for_answer {
        return String::new();
    }
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_thousand_malformed_requests_and_forty_connections_then_a_valid_one() {
    let _turn = serial();
    // Idle connections are let go after 2 s: long enough for all 40 to connect first, even on
    // a loaded machine; the slots are not given away meanwhile (evict_after is longer).
    let server = start_with(Limits {
        io_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(4),
        evict_after: Duration::from_secs(30),
        ..Limits::default()
    });
    let addr = server.local_addr();
    let rss_before = proc_status_bytes("VmRSS");

    // 1,000 malformed requests of 22 kinds from 8 clients at once: each gets a 4xx, never a
    // success or a server error.
    let clients: Vec<_> = (0..8u64)
        .map(|client| {
            thread::spawn(move || {
                let mut rng = rand_pcg::Pcg64::seed_from_u64(client);
                let mut statuses = Vec::new();
                for i in 0..125 {
                    let kind = (client as usize * 125 + i) % MALFORMED_KINDS;
                    let (bytes, answered) = malformed(kind, &mut rng);
                    let reply = send_raw(addr, &bytes, answered);
                    if answered {
                        let status: u16 = reply
                            .strip_prefix("HTTP/1.1 ")
                            .and_then(|r| r.get(..3))
                            .and_then(|s| s.parse().ok())
                            .unwrap_or_else(|| panic!("kind {kind}: no answer but '{reply}'"));
                        statuses.push((kind, status));
                    }
                }
                statuses
            })
        })
        .collect();
    let mut answered = 0;
    for client in clients {
        for (kind, status) in client.join().expect("a client thread") {
            assert!((400..500).contains(&status), "kind {kind}: status {status}");
            answered += 1;
        }
    }
    assert!(answered > 900, "{answered} answers");
    // Clients that left half-way have been let go by now.
    thread::sleep(Duration::from_millis(800));

    // Forty connections at once that send nothing: the first MAX_CONNECTIONS wait for their
    // request and are closed when it does not come; every later one gets a 503 at once.
    let streams: Vec<TcpStream> = (0..40)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("a timeout");
            s
        })
        .collect();
    for (i, mut stream) in streams.into_iter().enumerate() {
        let mut reply = Vec::new();
        let read = stream.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        if i < MAX_CONNECTIONS {
            assert!(
                read.is_ok() && reply.is_empty(),
                "idle connection {i} was not closed quietly: {read:?} '{reply}'"
            );
        } else {
            assert!(
                reply.starts_with("HTTP/1.1 503 "),
                "connection {} got '{reply}'",
                i + 1
            );
        }
    }

    // Then a valid request is answered correctly, and promptly.
    let asked = Instant::now();
    assert_eq!(predict_a_stroke(addr), 200);
    eprintln!("valid request answered in {:?}", asked.elapsed());
    if let (Some(before), Some(after)) = (rss_before, proc_status_bytes("VmRSS")) {
        let grown = after.saturating_sub(before);
        eprintln!("resident memory grew by {} KiB", grown >> 10);
        assert!(grown < 64 << 20, "memory grew by {grown} bytes");
    }
}

#[test]
fn concurrent_huge_images_share_a_bounded_decode_budget() {
    let _turn = serial();
    // 4096×4096 16-bit RGBA: 128 MiB decoded, ~200 KB as PNG (mostly black, one tall stroke).
    let big = {
        let img = image::ImageBuffer::<image::Rgba<u16>, _>::from_fn(4096, 4096, |x, y| {
            let ink = (1800..2300).contains(&x) && (300..3800).contains(&y);
            let v = if ink { u16::MAX } else { 0 };
            image::Rgba([v, v, v, u16::MAX])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("encode a PNG");
        out.into_inner()
    };
    let limits = Limits::default();
    let server = start_with(limits);
    let addr = server.local_addr();
    reset_peak_memory();
    let base = proc_status_bytes("VmRSS");

    let big = std::sync::Arc::new(big);
    let uploads: Vec<_> = (0..15)
        .map(|_| {
            let big = std::sync::Arc::clone(&big);
            thread::spawn(move || {
                let answer = post(&format!("http://{addr}/api/predict"), "image/png", &big);
                if answer.status == 200 {
                    assert_eq!(answer.json()["label"], "tall");
                }
                answer.status
            })
        })
        .collect();
    let statuses: Vec<u16> = uploads
        .into_iter()
        .map(|u| u.join().expect("an upload"))
        .collect();
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    if let (Some(base), Some(peak)) = (base, proc_status_bytes("VmHWM")) {
        let grown = peak.saturating_sub(base);
        eprintln!(
            "statuses {statuses:?}; peak memory grew by {} MiB",
            grown >> 20
        );
        let bound = limits.decode_budget_bytes + (256 << 20);
        assert!(grown < bound, "peak memory grew by {} MiB", grown >> 20);
    }
    assert_eq!(predict_a_stroke(addr), 200);
}
