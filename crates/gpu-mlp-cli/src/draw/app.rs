//! The draw page's routes: the embedded page, `GET /api/model` and `POST /api/predict`.
//!
//! Requests never touch the file system: the page is compiled into the binary, and the only
//! input a request carries is the image it asks about.

use super::budget::{DecodeBudget, Refusal};
use super::http::{Limits, Request, Response, JSON};
use gpu_mlp::inference::preprocess;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;

const INDEX_HTML: &str = include_str!("../../assets/draw/index.html");
const DRAW_CSS: &str = include_str!("../../assets/draw/draw.css");
const DRAW_JS: &str = include_str!("../../assets/draw/draw.js");
const FAVICON_SVG: &str = include_str!("../../assets/draw/favicon.svg");

/// Widest and tallest image `POST /api/predict` accepts (a drawing canvas is a few hundred pixels).
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// The page may load only what this server sends: no external resource can sneak in.
const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Turns the model's input pixels into class probabilities.
///
/// `pixels` holds `rows × cols` values in [0, 1], row-major, ink bright on a dark background (the
/// output of `preprocess::prepare`); the result holds one probability per class. The `draw`
/// command plugs in the trained classifier; tests plug in a closure.
pub trait Predictor: Send {
    fn probabilities(&mut self, pixels: &[f32]) -> Vec<f32>;
}

impl<F> Predictor for F
where
    F: FnMut(&[f32]) -> Vec<f32> + Send,
{
    fn probabilities(&mut self, pixels: &[f32]) -> Vec<f32> {
        self(pixels)
    }
}

/// What the page shows about the model, served as `GET /api/model`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    /// One name per class, in output order (from the model file).
    pub classes: Vec<String>,
    /// The input image shape the model was trained on.
    pub rows: usize,
    pub cols: usize,
    /// The data set the model was trained on, e.g. `mnist`.
    pub dataset: String,
    /// The network, e.g. `784-128-10`.
    pub network: String,
    /// The engine answering, e.g. `cpu`.
    pub engine: String,
}

/// The JSON body of a raw-pixel prediction request: grey values, row-major.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPixels {
    width: u32,
    height: u32,
    /// `width × height` values, 0 (black) to 255 (white).
    pixels: Vec<u8>,
}

/// The answer of `POST /api/predict`.
#[derive(Debug, Serialize)]
struct Prediction<'a> {
    /// Index of the most probable class.
    class: usize,
    /// Its name.
    label: &'a str,
    /// Its probability.
    confidence: f32,
    /// One per class, in the order of `GET /api/model`'s `classes`.
    probabilities: Vec<f32>,
    /// What the model saw: `rows × cols` values in [0, 1], row-major (after preprocessing).
    rows: usize,
    cols: usize,
    input: Vec<f32>,
    /// True when the preprocessed image has no ink at all (nothing drawn yet).
    blank: bool,
}

/// A request that cannot be answered: its status and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The routes, the model description and the predictor (one prediction at a time).
pub struct App {
    info: ModelInfo,
    predictor: Mutex<Box<dyn Predictor>>,
    /// Accept any `Host` header (the server listens on a non-loopback address on purpose).
    any_host: bool,
    /// Memory shared by the images being decoded at once.
    decode_budget: DecodeBudget,
    /// Longest wait for a share of `decode_budget`.
    decode_wait: Duration,
}

impl App {
    pub fn new(
        info: ModelInfo,
        predictor: Box<dyn Predictor>,
        any_host: bool,
        limits: &Limits,
    ) -> Self {
        Self {
            info,
            predictor: Mutex::new(predictor),
            any_host,
            decode_budget: DecodeBudget::new(limits.decode_budget_bytes),
            decode_wait: limits.io_timeout,
        }
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Answers one request. Never panics on request content; a failing predictor gives a 500.
    pub fn handle(&self, request: &Request) -> Response {
        if !self.any_host && !is_local_host(&request.host) {
            // A loopback server only answers names of the loopback interface, so a web page that
            // rebinds its own domain name to 127.0.0.1 cannot use it.
            return Response::error(
                421,
                "this server answers only requests for localhost / 127.0.0.1 / [::1]",
            );
        }
        let (method, path) = (request.method.as_str(), request.path.as_str());
        let page = |content_type: &'static str, body: &'static str| {
            Response::new(200, content_type, body.as_bytes())
                .with_header("Content-Security-Policy", CSP)
                .with_header("Referrer-Policy", "no-referrer")
        };
        let allowed = match path {
            "/" | "/index.html" | "/draw.css" | "/draw.js" | "/favicon.svg" | "/favicon.ico"
            | "/api/model" => "GET",
            "/api/predict" => "POST",
            _ => {
                return Response::error(
                    404,
                    &format!("no such page: {path} (the page is at /, the API at /api/model and /api/predict)"),
                )
            }
        };
        if method != allowed {
            return Response::error(405, &format!("{path} accepts {allowed}, not {method}"))
                .with_header("Allow", allowed);
        }
        match path {
            "/" | "/index.html" => page("text/html; charset=utf-8", INDEX_HTML),
            "/draw.css" => page("text/css; charset=utf-8", DRAW_CSS),
            "/draw.js" => page("text/javascript; charset=utf-8", DRAW_JS),
            "/favicon.svg" | "/favicon.ico" => page("image/svg+xml", FAVICON_SVG),
            "/api/model" => json_response(200, &self.info),
            _ => match self.predict(request) {
                Ok(response) => response,
                Err(e) => Response::error(e.status, &e.message),
            },
        }
    }

    /// Decodes the body and prepares the model input, holding a share of the decode budget
    /// for as long as the decoded picture lives.
    fn prepare_payload(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<f32>, ApiError> {
        let cost = payload_cost(content_type, body)?;
        let _share = self
            .decode_budget
            .reserve(cost, self.decode_wait)
            .map_err(|refusal| match refusal {
                Refusal::TooLarge { capacity } => ApiError::new(
                    413,
                    format!(
                        "decoding this image takes about {} MiB, more than the server's {} MiB",
                        cost >> 20,
                        capacity >> 20
                    ),
                ),
                Refusal::Busy => ApiError::new(
                    503,
                    "the server is busy decoding other large images; try again",
                ),
            })?;
        let image = decode_payload(content_type, body)?;
        Ok(preprocess::prepare(&image, self.info.rows, self.info.cols))
    }

    fn predict(&self, request: &Request) -> Result<Response, ApiError> {
        let (rows, cols) = (self.info.rows, self.info.cols);
        let input = self.prepare_payload(request.content_type.as_deref(), &request.body)?;
        if input.len() != rows * cols {
            return Err(ApiError::new(
                500,
                format!(
                    "preprocessing produced {} values for a {rows}x{cols} model",
                    input.len()
                ),
            ));
        }
        let probabilities = {
            let mut predictor = self
                .predictor
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            catch_unwind(AssertUnwindSafe(|| predictor.probabilities(&input)))
                .map_err(|_| ApiError::new(500, "the model failed on this input (it panicked)"))?
        };
        let classes = self.info.classes.len();
        if probabilities.len() != classes || probabilities.iter().any(|p| !p.is_finite()) {
            return Err(ApiError::new(
                500,
                format!(
                    "the model returned {} values (expected {classes} finite probabilities)",
                    probabilities.len()
                ),
            ));
        }
        let class = gpu_mlp::engine::cpu::ops::arg_max(&probabilities).0;
        let body = Prediction {
            class,
            label: &self.info.classes[class],
            confidence: probabilities[class],
            blank: input.iter().all(|&v| v <= 0.0),
            input: input.iter().map(|&v| round3(v)).collect(),
            probabilities,
            rows,
            cols,
        };
        Ok(json_response(200, &body))
    }
}

/// Bytes that decoding and preparing the payload takes, from the image header alone (raw JSON
/// pixels: bounded from the body size; an empty body or one that is not an image: nothing, it
/// is refused by `decode_payload`).
fn payload_cost(content_type: Option<&str>, body: &[u8]) -> Result<u64, ApiError> {
    match content_type {
        _ if body.is_empty() => Ok(0),
        Some(t) if t.starts_with("image/") || t == "application/octet-stream" => {
            let decoder = image::ImageReader::new(Cursor::new(body))
                .with_guessed_format()
                .map_err(|e| ApiError::new(400, format!("not an image: {e}")))?
                .into_decoder()
                .map_err(|e| ApiError::new(400, format!("not an image: {e}")))?;
            let (width, height) = image::ImageDecoder::dimensions(&decoder);
            check_side(width, height)?;
            let color = image::ImageDecoder::color_type(&decoder);
            Ok(preprocess::working_memory(
                width,
                height,
                color.bytes_per_pixel(),
            ))
        }
        // At most one pixel per two bytes (`0,`), in any shape: bounded as one row of them
        // (whose shrinking costs the most), plus the array of them as it grows while parsed.
        Some("application/json") => {
            let pixels = u32::try_from(body.len() / 2).unwrap_or(u32::MAX).max(1);
            Ok(body.len() as u64 + preprocess::working_memory(pixels, 1, 1))
        }
        _ => Ok(0),
    }
}

/// Decodes the body of `POST /api/predict`: an encoded image (`image/png`, or any format the
/// image decoder knows) or raw grey pixels as JSON.
fn decode_payload(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<image::DynamicImage, ApiError> {
    if body.is_empty() {
        return Err(ApiError::new(
            400,
            "empty request body: send the drawing as image/png or as JSON {\"width\", \"height\", \"pixels\"}",
        ));
    }
    match content_type {
        Some("application/json") => {
            let raw: RawPixels = serde_json::from_slice(body)
                .map_err(|e| ApiError::new(400, format!("malformed JSON pixels: {e}")))?;
            check_side(raw.width, raw.height)?;
            let expected = raw.width as usize * raw.height as usize;
            if raw.pixels.len() != expected {
                return Err(ApiError::new(
                    400,
                    format!(
                        "wrong dimensions: {} pixels for a {}x{} image (expected {expected})",
                        raw.pixels.len(),
                        raw.width,
                        raw.height
                    ),
                ));
            }
            image::GrayImage::from_raw(raw.width, raw.height, raw.pixels)
                .map(image::DynamicImage::ImageLuma8)
                .ok_or_else(|| ApiError::new(400, "the pixels do not fill the image"))
        }
        Some(t) if t.starts_with("image/") || t == "application/octet-stream" => {
            // `payload_cost` read the header first, so a small file that declares a huge image is
            // refused before anything is allocated for it.
            preprocess::decode(body).map_err(|e| ApiError::new(400, format!("not an image: {e}")))
        }
        other => Err(ApiError::new(
            415,
            format!(
                "unsupported Content-Type {}: send image/png or application/json",
                other.map_or_else(|| "(none)".to_string(), |t| format!("'{t}'"))
            ),
        )),
    }
}

fn check_side(width: u32, height: u32) -> Result<(), ApiError> {
    if width == 0 || height == 0 {
        return Err(ApiError::new(
            400,
            format!("wrong dimensions: a {width}x{height} image has no pixels"),
        ));
    }
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(ApiError::new(
            400,
            format!(
                "wrong dimensions: {width}x{height} is larger than {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}"
            ),
        ));
    }
    Ok(())
}

/// True for the loopback names, with or without a port.
fn is_local_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

fn json_response<T: Serialize>(status: u16, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::new(status, JSON, body),
        Err(e) => Response::error(500, &format!("cannot encode the answer as JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost",
            "localhost:8000",
            "127.0.0.1:1",
            "[::1]:8000",
            "LOCALHOST",
        ] {
            assert!(is_local_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8000",
            "192.168.1.2:8000",
            "[::2]:80",
        ] {
            assert!(!is_local_host(host), "{host}");
        }
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(
            gpu_mlp::engine::cpu::ops::arg_max(&[0.1, 0.5, 0.5, 0.2]).0,
            1
        );
        assert_eq!(gpu_mlp::engine::cpu::ops::arg_max(&[1.0]).0, 0);
    }
}
