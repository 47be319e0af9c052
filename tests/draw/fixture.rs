//! Shared by the draw tests: a fake model, a test server, and small HTTP helpers.

use gpu_mlp_cli::draw::{DrawServer, Limits, ModelInfo, Predictor, ServerHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The fake model's classes: it names the shape of the ink it is shown.
pub const SHAPES: [&str; 3] = ["wide", "tall", "round"];

/// A predictor that needs no training: from the bounding box of the ink in the preprocessed
/// image, "tall" (a stroke like a 1), "wide" (like a dash) or "round" (anything else).
pub fn shape_predictor(rows: usize, cols: usize) -> impl FnMut(&[f32]) -> Vec<f32> + Send {
    move |pixels: &[f32]| {
        let (mut top, mut bottom, mut left, mut right) = (rows, 0, cols, 0);
        for r in 0..rows {
            for c in 0..cols {
                if pixels[r * cols + c] > 0.3 {
                    top = top.min(r);
                    bottom = bottom.max(r);
                    left = left.min(c);
                    right = right.max(c);
                }
            }
        }
        if top > bottom {
            return vec![1.0 / 3.0; 3];
        }
        let aspect = (bottom - top + 1) as f32 / (right - left + 1) as f32;
        let class = if aspect > 2.0 {
            1
        } else if aspect < 0.5 {
            0
        } else {
            2
        };
        let mut p = vec![0.05; 3];
        p[class] = 0.9;
        p
    }
}

pub fn shape_info() -> ModelInfo {
    ModelInfo {
        classes: SHAPES.iter().map(|s| s.to_string()).collect(),
        rows: 28,
        cols: 28,
        dataset: "shapes".into(),
        network: "fake".into(),
        engine: "test".into(),
    }
}

/// Starts a server for `info` and `predictor` on a free loopback port.
pub fn start(info: ModelInfo, predictor: Box<dyn Predictor>, limits: Limits) -> ServerHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
    DrawServer::bind(addr, info, predictor, limits)
        .expect("bind a free loopback port")
        .spawn()
        .expect("start the server thread")
}

pub fn start_shapes() -> ServerHandle {
    start(
        shape_info(),
        Box::new(shape_predictor(28, 28)),
        Limits::default(),
    )
}

/// An HTTP client that returns 4xx/5xx responses instead of errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Status and body of a response; the body parsed as JSON when it is JSON.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The JSON error message of a 4xx/5xx answer.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"error\" in {}", self.text()))
            .to_string()
    }
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect::<Vec<_>>();
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .expect("read the response body");
    Answer {
        status,
        content_type,
        headers,
        body,
    }
}

pub fn get(url: &str) -> Answer {
    answer(agent().get(url).call().expect("GET"))
}

pub fn post(url: &str, content_type: &str, body: &[u8]) -> Answer {
    answer(
        agent()
            .post(url)
            .header("Content-Type", content_type)
            .send(body)
            .expect("POST"),
    )
}

/// Sends raw bytes on a fresh connection and returns everything the server sends back.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set a timeout");
    stream.write_all(bytes).expect("send");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A grey PNG of `width × height` with `ink` (x, y, w, h) rectangles in white on black.
pub fn png(width: u32, height: u32, ink: &[(u32, u32, u32, u32)]) -> Vec<u8> {
    let img = image::GrayImage::from_fn(width, height, |x, y| {
        let on = ink
            .iter()
            .any(|&(ix, iy, iw, ih)| x >= ix && x < ix + iw && y >= iy && y < iy + ih);
        image::Luma([if on { 255 } else { 0 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode a PNG");
    out.into_inner()
}
