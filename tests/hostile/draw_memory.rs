//! The draw server's memory under concurrent uploads of large pictures: what it decodes at once
//! stays within its decode budget (512 MiB), and what a decode frees is given back, so the peak
//! of the `gpu-mlp draw` process, measured from outside, is the budget plus a small fixed part.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// The server's default decode budget (`draw::Limits`).
const BUDGET: u64 = 512 << 20;
/// What the server holds besides decodes: the model, 16 connections' bodies and stacks.
const FIXED: u64 = 64 << 20;

/// `gpu-mlp draw` on a free port, and its `host:port`.
fn serve(model: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(["draw", "--backend", "cpu", "--port", "0", "--model"])
        .arg(model)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("gpu-mlp draw starts");
    let stdout = child.stdout.take().expect("its stdout");
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("Draw at "))
        .expect("the server says where it listens");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a URL")
        .to_string();
    (child, addr)
}

/// The status of `POST /api/predict` with `png`.
fn post_png(addr: &str, png: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: {addr}\r\nContent-Type: image/png\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        png.len()
    );
    stream.write_all(head.as_bytes()).expect("send the head");
    stream.write_all(png).expect("send the picture");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The peak resident memory (VmHWM) of process `pid`, in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("its status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .expect("VmHWM");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

#[test]
fn sixteen_concurrent_4096_square_grey_uploads_stay_within_the_decode_budget() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.safetensors");
    gpu_mlp::checkpoint::save(&model, &support::small_checkpoint()).unwrap();
    // A 4096×4096 8-bit grey PNG (16 MiB decoded, 64 MiB in the resize's float pass; tens of KB
    // as a file): one tall stroke on black.
    let picture = image::GrayImage::from_fn(4096, 4096, |x, y| {
        let ink = (1800..2300).contains(&x) && (300..3800).contains(&y);
        image::Luma([if ink { 255 } else { 0 }])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let png = png.into_inner();
    let (mut server, addr) = serve(&model);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let uploads: Vec<_> = (0..16).map(|_| s.spawn(|| post_png(&addr, &png))).collect();
        uploads.into_iter().map(|u| u.join().unwrap()).collect()
    });
    let peak = peak_memory(server.id());
    let _ = server.kill();
    let _ = server.wait();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 503),
        "{statuses:?}"
    );
    assert!(
        peak < BUDGET + FIXED,
        "the server peaked at {} MiB against its {} MiB decode budget",
        peak >> 20,
        BUDGET >> 20
    );
}
