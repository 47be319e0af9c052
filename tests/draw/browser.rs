//! End to end in a real browser: headless Debian chromium, driven through chromedriver, loads the
//! draw page, draws stroke by stroke with WebDriver pointer actions (mouse and touch), and reads
//! what the page shows.
//!
//! First a fake model (no training) checks the page's mechanics; then `gpu-mlp draw` serves a
//! model trained here on MNIST (`../shared/data/mnist`) and a drawn 7 and 1 must read 7 and 1.
//!
//! Needs `chromium` and `chromium-driver` (`.ci/install-deps` installs them). Without them the
//! test is skipped with a message, except under `CI=true`, where it fails.
//! `GPU_MLP_DRAW_SCREENSHOT=docs/draw.png` also saves a screenshot of the page there.

use crate::webdriver::{Browser, Session};
use gpu_mlp::checkpoint::{self, Checkpoint};
use gpu_mlp::model::optimizer::Optimizer;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::training::{Silent, TrainConfig};
use gpu_mlp::{BackendChoice, Trainer};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The browser, or `None` (skip) when it is missing outside CI.
fn browser_or_skip() -> Option<Browser> {
    match Browser::find() {
        Ok(browser) => Some(browser),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and the browser test cannot run: {why}")
        }
        Err(why) => {
            // Straight to stderr: the test harness would swallow eprintln! of a passing test.
            let _ = writeln!(std::io::stderr(), "SKIPPED draw_browser: {why}");
            None
        }
    }
}

/// Runs `body` and adds chromedriver's log to a failure.
fn check<T>(session: &Session, what: &str, result: Result<T, String>) -> T {
    result.unwrap_or_else(|e| {
        panic!(
            "{what}: {e}\n--- chromedriver log ---\n{}",
            session.log_tail()
        )
    })
}

/// Waits up to 20 s until `condition` (a script body, with the page's `b = document.body`, that
/// returns null until then) returns a value, and returns it. An error the page shows ends the
/// wait and fails the test, as does the timeout (with `failure` and chromedriver's log).
fn wait_for_page(session: &Session, failure: &str, what: &str, condition: &str) -> Value {
    const SHOWS_AN_ERROR: &str = "const b = document.body; \
        if (b.dataset.state === 'error') return {error: document.getElementById('status').textContent}; ";
    let shown = check(
        session,
        failure,
        session.wait_for(
            what,
            &format!("{SHOWS_AN_ERROR}{condition}"),
            Duration::from_secs(20),
        ),
    );
    if let Some(error) = shown.get("error") {
        panic!("the page shows an error: {error}");
    }
    shown
}

/// Waits until the page has loaded the model and built its bars; returns the class names shown.
fn wait_ready(session: &Session) -> Vec<String> {
    let names = wait_for_page(
        session,
        "the page did not get ready",
        "the page to load the model",
        "if (b.dataset.state !== 'ready') return null; \
         return [...document.querySelectorAll('#bars .name')].map(e => e.textContent);",
    );
    names
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Where the drawing pad is in the viewport: left, top, width, height.
fn pad_rect(session: &Session) -> (f64, f64, f64, f64) {
    let rect = check(
        session,
        "locating the pad",
        session.execute(
            "const r = document.getElementById('pad').getBoundingClientRect(); \
             return [r.left, r.top, r.width, r.height];",
            json!([]),
        ),
    );
    let v: Vec<f64> = rect
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    assert_eq!(v.len(), 4, "pad rect {rect}");
    (v[0], v[1], v[2], v[3])
}

/// Strokes given in pad units (0..1 both ways), as viewport points every few pixels.
fn strokes_on_pad(rect: (f64, f64, f64, f64), strokes: &[&[(f64, f64)]]) -> Vec<Vec<(f64, f64)>> {
    let (left, top, width, height) = rect;
    strokes
        .iter()
        .map(|corners| {
            let mut points = Vec::new();
            for pair in corners.windows(2) {
                let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
                let steps = ((((x1 - x0) * width).hypot((y1 - y0) * height)) / 12.0)
                    .ceil()
                    .max(1.0) as usize;
                for i in 0..steps {
                    let t = i as f64 / steps as f64;
                    points.push((x0 + t * (x1 - x0), y0 + t * (y1 - y0)));
                }
            }
            if let Some(&last) = corners.last() {
                points.push(last);
            }
            points
                .into_iter()
                .map(|(x, y)| (left + x * width, top + y * height))
                .collect()
        })
        .collect()
}

/// Waits until the answer on screen is for the whole drawing; returns what the page shows.
fn settled(session: &Session) -> Value {
    wait_for_page(
        session,
        "the page did not show an answer",
        "the answer to the last stroke",
        "if (b.dataset.state !== 'ready' || b.dataset.changes === '0' \
             || b.dataset.answered !== b.dataset.changes) return null; \
         const seen = document.getElementById('seen'); \
         const px = seen.getContext('2d').getImageData(0, 0, seen.width, seen.height).data; \
         let ink = 0; for (let i = 0; i < px.length; i += 4) ink += px[i]; \
         return { \
           label: document.getElementById('prediction').textContent, \
           confidence: document.getElementById('confidence').textContent, \
           top: [...document.querySelectorAll('#bars li.top .name')].map(e => e.textContent), \
           widths: [...document.querySelectorAll('#bars .fill')].map(e => parseFloat(e.style.width)), \
           seenInk: ink / 255, \
           predictions: Number(b.dataset.predictions) };",
    )
}

fn draw_and_read(session: &Session, pointer: &str, strokes: &[&[(f64, f64)]]) -> Value {
    let rect = pad_rect(session);
    check(
        session,
        "drawing",
        session.draw(pointer, &strokes_on_pad(rect, strokes)),
    );
    settled(session)
}

fn clear(session: &Session) {
    check(session, "clicking Clear", session.click("#clear"));
    let label = check(
        session,
        "reading the cleared page",
        session.execute(
            "return document.getElementById('prediction').textContent;",
            json!([]),
        ),
    );
    assert_eq!(label, "–", "Clear did not reset the prediction");
}

/// Trains a 784-128-10 network on MNIST with the CPU engine (2 epochs, a few seconds) and saves
/// it where `gpu-mlp draw` can load it.
fn train_mnist_model(path: &Path) {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/mnist"
    ));
    assert!(
        dir.is_dir(),
        "MNIST is expected at {} (relative to the crate root)",
        dir.display()
    );
    let data = gpu_mlp::data::load_dir(dir, None).expect("load MNIST");
    let spec = ModelSpec::new(data.features(), vec![128], data.classes(), 0.2).expect("a spec");
    let optimizer = Optimizer::adam(1e-3);
    let config = TrainConfig {
        epochs: 2,
        batch_size: 32,
        validation_split: 0.0,
        seed: 7,
        optimizer,
        ..TrainConfig::default()
    };
    let report = Trainer::new(spec.clone())
        .config(config)
        .backend(BackendChoice::Cpu)
        .fit(&data, &mut Silent)
        .expect("training");
    assert!(
        report.test.accuracy() > 0.95,
        "test accuracy {}",
        report.test.accuracy()
    );
    let model = Checkpoint::for_dataset(spec, report.parameters, &data);
    checkpoint::save(path, &model).expect("save the model");
}

/// `gpu-mlp draw` running as a child process; killed when dropped.
struct DrawCommand {
    child: Child,
    url: String,
}

impl DrawCommand {
    /// Starts `gpu-mlp draw --model MODEL --port 0` and reads the URL it prints.
    fn start(model: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(["draw", "--port", "0", "--model"])
            .arg(model)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gpu-mlp draw");
        let stdout = child.stdout.take().expect("a piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut printed = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("Draw at ") {
                        break rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_string();
                    }
                    printed.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    panic!("gpu-mlp draw printed no URL; stdout: {printed:?}; stderr: {err}");
                }
            }
        };
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "not a loopback URL by default: {url}"
        );
        assert!(
            printed.iter().any(|l| l.contains("784-128-10")),
            "the command does not describe the model: {printed:?}"
        );
        Self { child, url }
    }
}

impl Drop for DrawCommand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A "7" in two strokes (the bar, then the diagonal) and a "1" in one, in pad units.
const SEVEN: &[&[(f64, f64)]] = &[&[(0.27, 0.22), (0.73, 0.22)], &[(0.73, 0.22), (0.42, 0.84)]];
const ONE: &[&[(f64, f64)]] = &[&[(0.53, 0.16), (0.47, 0.84)]];

#[test]
fn draw_page_end_to_end_in_headless_chromium() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("a temp dir");
    let model_path = scratch.path().join("mnist.safetensors");
    // Train while the browser starts.
    let trainer = std::thread::spawn({
        let path = model_path.clone();
        move || train_mnist_model(&path)
    });
    let session = Session::start(&browser, 1100, 720)
        .unwrap_or_else(|e| panic!("cannot start headless chromium: {e}"));

    // 1. A fake model: class names come from the model; touch and mouse both draw; Clear works.
    let fake = crate::fixture::start_shapes();
    check(&session, "loading the page", session.navigate(&fake.url()));
    assert_eq!(
        wait_ready(&session),
        crate::fixture::SHAPES,
        "the bars name the model's classes"
    );
    let shown = draw_and_read(&session, "touch", &[&[(0.5, 0.15), (0.47, 0.85)]]);
    assert_eq!(
        shown["label"], "tall",
        "a finger's vertical stroke: page shows {shown}"
    );
    assert_eq!(shown["top"], json!(["tall"]), "the top bar is highlighted");
    let widths: Vec<f64> = shown["widths"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    assert_eq!(widths.len(), 3);
    assert!(
        widths[1] > widths[0] && widths[1] > widths[2],
        "bars {widths:?}"
    );
    clear(&session);
    let shown = draw_and_read(
        &session,
        "mouse",
        &[&[(0.15, 0.5), (0.5, 0.52)], &[(0.5, 0.52), (0.85, 0.5)]],
    );
    assert_eq!(shown["label"], "wide", "a mouse's dash: page shows {shown}");
    drop(fake);

    // 2. `gpu-mlp draw` with a model trained here on MNIST: a drawn 7 reads 7, a drawn 1 reads 1.
    trainer.join().expect("training succeeded");
    let command = DrawCommand::start(&model_path);
    check(&session, "loading the page", session.navigate(&command.url));
    let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert_eq!(wait_ready(&session), digits);
    let shown = draw_and_read(&session, "mouse", ONE);
    assert_eq!(shown["label"], "1", "a drawn 1: page shows {shown}");
    clear(&session);
    let shown = draw_and_read(&session, "pen", SEVEN);
    assert_eq!(shown["label"], "7", "a drawn 7: page shows {shown}");
    assert_eq!(shown["top"], json!(["7"]), "the 7 has the highest bar");
    assert!(
        shown["seenInk"].as_f64().unwrap_or_default() > 10.0,
        "the 28x28 preview is empty: {shown}"
    );
    let screenshot = save_screenshot(&session, "draw.png");
    if let Some(target) = std::env::var_os("GPU_MLP_DRAW_SCREENSHOT") {
        let target = std::path::PathBuf::from(target);
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        std::fs::copy(&screenshot, &target)
            .unwrap_or_else(|e| panic!("copy the screenshot to {}: {e}", target.display()));
    }
}

/// Saves a screenshot of the page under the test's scratch folder (and where
/// `$GPU_MLP_DRAW_SCREENSHOT` says, for the README); returns the scratch path.
fn save_screenshot(session: &Session, name: &str) -> std::path::PathBuf {
    let png = check(session, "taking a screenshot", session.screenshot());
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    eprintln!("screenshot: {}", path.display());
    path
}
