//! The draw server's HTTP surface with a fake model: the page, `GET /api/model`,
//! `POST /api/predict` with good and bad payloads, and that it keeps serving after each bad one.

use crate::fixture::{get, png, post, raw, shape_info, start, start_shapes};
use gpu_mlp::inference::preprocess;
use gpu_mlp_cli::draw::Limits;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn url(server: &gpu_mlp_cli::draw::ServerHandle, path: &str) -> String {
    format!("http://{}{path}", server.local_addr())
}

/// The server still answers a plain request.
fn assert_alive(server: &gpu_mlp_cli::draw::ServerHandle) {
    let model = get(&url(server, "/api/model"));
    assert_eq!(model.status, 200, "the server stopped answering");
}

#[test]
fn serves_the_page_and_the_model_description() {
    let server = start_shapes();
    let page = get(&url(&server, "/"));
    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    let html = page.text();
    for needle in [
        "<canvas id=\"pad\"",
        "id=\"clear\"",
        "id=\"prediction\"",
        "/draw.js",
    ] {
        assert!(html.contains(needle), "the page lacks {needle}");
    }
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "CSP: {csp}");
    // No external resource: nothing in the page or its assets names another origin.
    for path in ["/", "/draw.js", "/draw.css", "/favicon.svg"] {
        let asset = get(&url(&server, path));
        assert_eq!(asset.status, 200, "{path}");
        let text = asset.text().replace("http://www.w3.org/2000/svg", "");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path} links out"
        );
    }
    assert!(get(&url(&server, "/draw.js"))
        .content_type
        .starts_with("text/javascript"));
    assert!(get(&url(&server, "/draw.css"))
        .content_type
        .starts_with("text/css"));

    let model = get(&url(&server, "/api/model"));
    assert_eq!(model.status, 200);
    assert!(model.content_type.starts_with("application/json"));
    let info = model.json();
    assert_eq!(
        info["classes"],
        serde_json::json!(["wide", "tall", "round"])
    );
    assert_eq!(
        (info["rows"].as_u64(), info["cols"].as_u64()),
        (Some(28), Some(28))
    );
    assert_eq!(info["dataset"], "shapes");
}

#[test]
fn predicts_a_png_with_the_same_preprocessing_as_predict() {
    let seen: Arc<Mutex<Vec<Vec<f32>>>> = Arc::default();
    let record = Arc::clone(&seen);
    let mut shapes = crate::fixture::shape_predictor(28, 28);
    let predictor = move |pixels: &[f32]| {
        record.lock().expect("not poisoned").push(pixels.to_vec());
        shapes(pixels)
    };
    let server = start(shape_info(), Box::new(predictor), Limits::default());

    // A tall bar, off centre, on a 280x280 canvas: a "1".
    let drawing = png(280, 280, &[(40, 30, 22, 200)]);
    let answer = post(&url(&server, "/api/predict"), "image/png", &drawing);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["label"], "tall");
    assert_eq!(body["class"], 1);
    assert_eq!(body["blank"], false);
    let probabilities: Vec<f64> = values(&body["probabilities"]);
    assert_eq!(probabilities.len(), 3);
    assert!((body["confidence"].as_f64().unwrap_or_default() - 0.9).abs() < 1e-6);

    // The model got exactly what `preprocess::prepare` makes of the decoded image, and the page
    // gets it back (rounded to 3 decimals) to show.
    let expected = preprocess::prepare(
        &preprocess::decode(&drawing).expect("decode our own PNG"),
        28,
        28,
    );
    let recorded = seen.lock().expect("not poisoned").clone();
    assert_eq!(recorded, vec![expected.clone()]);
    let input = values(&body["input"]);
    assert_eq!(
        (body["rows"].as_u64(), body["cols"].as_u64()),
        (Some(28), Some(28))
    );
    assert_eq!(input.len(), 28 * 28);
    for (got, want) in input.iter().zip(&expected) {
        assert!((got - *want as f64).abs() <= 5e-4, "{got} vs {want}");
    }
    // Centred like MNIST: the ink's centre of mass is near the middle of the 28x28 field.
    let (mass, col_sum) = expected
        .iter()
        .enumerate()
        .fold((0.0, 0.0), |(m, c), (i, &v)| {
            (m + v, c + v * (i % 28) as f32)
        });
    assert!(
        (col_sum / mass - 13.5).abs() < 1.5,
        "centre column {}",
        col_sum / mass
    );
}

#[test]
fn predicts_raw_pixels_and_blank_drawings() {
    let server = start_shapes();
    let (w, h) = (40u32, 30u32);
    let mut pixels = vec![0u8; (w * h) as usize];
    for y in 12..16 {
        for x in 4..36 {
            pixels[(y * w + x) as usize] = 255;
        }
    }
    let body = serde_json::json!({ "width": w, "height": h, "pixels": pixels }).to_string();
    let answer = post(
        &url(&server, "/api/predict"),
        "application/json",
        body.as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["label"], "wide");

    let blank = png(64, 64, &[]);
    let answer = post(&url(&server, "/api/predict"), "image/png", &blank);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["blank"], true);
    assert!(values(&body["input"]).iter().all(|&v| v == 0.0));
}

#[test]
fn rejects_bad_payloads_and_keeps_serving() {
    let server = start_shapes();
    let predict = url(&server, "/api/predict");
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "oversized body",
            "image/png",
            vec![0u8; 3 * 1024 * 1024],
            413,
            "limit",
        ),
        (
            "not an image",
            "image/png",
            b"hello, I am text".to_vec(),
            400,
            "image",
        ),
        ("empty body", "image/png", Vec::new(), 400, "empty"),
        (
            "too wide",
            "image/png",
            png(4097, 1, &[]),
            400,
            "larger than",
        ),
        (
            "unknown type",
            "text/plain",
            b"1,2,3".to_vec(),
            415,
            "Content-Type",
        ),
        (
            "malformed JSON",
            "application/json",
            b"{\"width\": 2,".to_vec(),
            400,
            "JSON",
        ),
        (
            "wrong dimensions",
            "application/json",
            br#"{"width": 28, "height": 28, "pixels": [0, 255, 0]}"#.to_vec(),
            400,
            "wrong dimensions",
        ),
        (
            "no pixels",
            "application/json",
            br#"{"width": 0, "height": 5, "pixels": []}"#.to_vec(),
            400,
            "no pixels",
        ),
        (
            "pixel out of range",
            "application/json",
            br#"{"width": 1, "height": 1, "pixels": [256]}"#.to_vec(),
            400,
            "JSON",
        ),
    ];
    for (what, content_type, body, status, says) in cases {
        let answer = post(&predict, content_type, &body);
        assert_eq!(answer.status, status, "{what}: {}", answer.text());
        assert!(
            answer.content_type.starts_with("application/json"),
            "{what}"
        );
        let message = answer.error();
        assert!(message.contains(says), "{what}: '{message}' lacks '{says}'");
        assert_alive(&server);
    }

    // Wrong method, unknown paths (nothing is ever read from disk).
    let answer = get(&predict);
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("POST"));
    assert_eq!(
        post(&url(&server, "/api/model"), "image/png", b"x").status,
        405
    );
    for path in [
        "/nope",
        "/../Cargo.toml",
        "/assets/draw/index.html",
        "/%2e%2e/etc/passwd",
    ] {
        let answer = get(&url(&server, path));
        assert_eq!(answer.status, 404, "{path}");
        assert!(answer.error().contains("no such page"), "{path}");
    }
    assert_alive(&server);
}

#[test]
fn rejects_malformed_http_and_keeps_serving() {
    let server = start(
        shape_info(),
        Box::new(crate::fixture::shape_predictor(28, 28)),
        Limits {
            io_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
    );
    let addr = server.local_addr();
    let huge_claim = format!(
        "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n\
         Content-Length: {}\r\n\r\nabcdefgh",
        1u64 << 62
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n",
        (0..100)
            .map(|i| format!("X-{i}: y\r\n"))
            .collect::<String>()
    );
    let long_head = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let cases: Vec<(&str, String, &str)> = vec![
        ("a body that claims 4 EiB", huge_claim, "413"),
        ("garbage", "NOT HTTP AT ALL\r\n\r\n".into(), "400"),
        (
            "a lower-case method",
            "get /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".into(),
            "400",
        ),
        (
            "no Host header",
            "GET /api/model HTTP/1.1\r\n\r\n".into(),
            "400",
        ),
        (
            "bad Content-Length",
            "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ten\r\n\r\n".into(),
            "400",
        ),
        (
            "chunked body",
            "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .into(),
            "411",
        ),
        ("too many headers", many_headers, "431"),
        ("head too long", long_head, "431"),
        (
            "an expectation other than 100-continue",
            "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx"
                .into(),
            "417",
        ),
        (
            "another site's name (DNS rebinding)",
            "GET /api/model HTTP/1.1\r\nHost: evil.example:8000\r\n\r\n".into(),
            "421",
        ),
        (
            "body shorter than declared (client stalls)",
            "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 100\r\n\r\nabc"
                .into(),
            "408",
        ),
    ];
    for (what, request, status) in cases {
        let reply = raw(addr, request.as_bytes());
        let status_line = reply.lines().next().unwrap_or_default();
        assert!(
            status_line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{what}: got '{status_line}'"
        );
        assert!(
            reply.contains("\"error\""),
            "{what}: no JSON error in {reply}"
        );
        assert_alive(&server);
    }

    // curl's `Expect: 100-continue`: the body follows the interim response.
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a timeout");
    let drawing = png(60, 60, &[(25, 5, 8, 50)]);
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n\
         Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        drawing.len()
    );
    stream.write_all(head.as_bytes()).expect("send the head");
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).expect("read 100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(&drawing).expect("send the body");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    assert!(reply.contains("\"label\":\"tall\""), "{reply}");

    // A connection that sends nothing is closed after the timeout without taking the server down.
    let idle = TcpStream::connect(addr).expect("connect");
    std::thread::sleep(Duration::from_millis(400));
    drop(idle);
    // A client that leaves half-way through its body.
    let mut gone = TcpStream::connect(addr).expect("connect");
    gone.write_all(
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\nab",
    )
    .expect("send");
    drop(gone);
    assert_alive(&server);
}

#[test]
fn a_failing_model_gives_500_and_the_server_goes_on() {
    let calls = Arc::new(Mutex::new(0usize));
    let count = Arc::clone(&calls);
    let predictor = move |_: &[f32]| -> Vec<f32> {
        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        match *n {
            1 => panic!("a model bug"),
            2 => vec![0.5; 2],      // wrong number of classes
            3 => vec![f32::NAN; 3], // not a probability
            _ => vec![0.2, 0.7, 0.1],
        }
    };
    let server = start(shape_info(), Box::new(predictor), Limits::default());
    let drawing = png(50, 50, &[(20, 5, 8, 40)]);
    let predict = url(&server, "/api/predict");
    for expected in ["panicked", "returned 2 values", "returned 3 values"] {
        let answer = post(&predict, "image/png", &drawing);
        assert_eq!(answer.status, 500);
        assert!(answer.error().contains(expected), "{}", answer.error());
    }
    let answer = post(&predict, "image/png", &drawing);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["label"], "tall");
}

#[test]
fn only_loopback_by_default_and_clear_bind_errors() {
    let server = start_shapes();
    assert!(server.local_addr().ip().is_loopback());
    assert!(server.url().starts_with("http://127.0.0.1:"));
    // The port is taken now: a second server on it fails with a hint.
    let err = gpu_mlp_cli::draw::DrawServer::bind(
        server.local_addr(),
        shape_info(),
        Box::new(crate::fixture::shape_predictor(28, 28)),
        Limits::default(),
    )
    .err()
    .expect("the port is in use");
    let message = err.to_string();
    assert!(message.contains("--port"), "{message}");
    server.shutdown().expect("a clean stop");
}

fn values(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}
