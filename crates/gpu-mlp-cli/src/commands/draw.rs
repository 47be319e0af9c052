//! `gpu-mlp draw`: serve the drawing page for a saved model until the user stops it.

use crate::cli::DrawArgs;
use crate::draw::{self, DrawError, DrawServer, Limits, ModelInfo};
use gpu_mlp::engine::BackendChoice;
use gpu_mlp::error::ConfigError;
use gpu_mlp::inference::classifier::Classifier;
use std::process::{Command, Stdio};

/// Loads the model, binds the address, prints the URL, optionally opens a browser, then serves.
pub fn run(args: &DrawArgs) -> Result<(), DrawError> {
    let server = start(args)?;
    if args.open {
        open_browser(&server.url());
    }
    server.serve()
}

/// Everything `run` does before serving: the bound server (its URL printed).
pub fn start(args: &DrawArgs) -> Result<DrawServer, DrawError> {
    let addr = draw::resolve(&args.host, args.port)?;
    let classifier = Classifier::load(&args.model)?;
    let checkpoint = classifier.checkpoint();
    refuse_unless_grey_images(args, checkpoint)?;
    let (rows, cols) = classifier.input_shape();
    let info = ModelInfo {
        classes: classifier.class_names().to_vec(),
        rows,
        cols,
        dataset: checkpoint.dataset.clone(),
        network: checkpoint
            .spec
            .widths()
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join("-"),
        engine: "cpu".to_string(),
    };
    let description = checkpoint.describe();
    let mut classifier = classifier;
    let predictor = move |pixels: &[f32]| {
        let inputs = classifier.unit_inputs(pixels);
        classifier.probabilities(&inputs)
    };
    let server = DrawServer::bind(addr, info, Box::new(predictor), Limits::default())?;

    println!(
        "gpu-mlp draw: {} from {}",
        description,
        args.model.display()
    );
    if let Some(note) = engine_note(args) {
        println!("{note}");
    }
    let bound = server.local_addr();
    if !bound.ip().is_loopback() {
        println!(
            "Listening on {bound}: every machine that can reach this one can use the page \
             (the default --host 127.0.0.1 keeps it to this machine)."
        );
    }
    println!("Draw at {}  (Ctrl+C stops the server)", server.url());
    Ok(server)
}

/// The page draws in one colour, so it serves models of grey (one-channel) images only; for
/// the others it says why and what to use instead.
fn refuse_unless_grey_images(
    args: &DrawArgs,
    checkpoint: &gpu_mlp::checkpoint::Checkpoint,
) -> Result<(), DrawError> {
    let model = args.model.display();
    let why = if !checkpoint.is_image() {
        format!(
            "{model} takes rows of {}, not pictures; classify rows with `gpu-mlp predict \
             --model {model} rows.csv`",
            checkpoint.input_words()
        )
    } else if checkpoint.channels != 1 {
        format!(
            "{model} takes {}, but the draw page draws in one colour (grey); classify pictures \
             with `gpu-mlp predict --model {model} picture.png`",
            checkpoint.input_words()
        )
    } else {
        return Ok(());
    };
    Err(DrawError::Model(
        ConfigError::new(format!("draw serves models of grey images: {why}")).into(),
    ))
}

/// The page classifies one image at a time on the CPU engine (a few hundred thousand
/// multiply-adds, far less than a GPU round trip); say so when the flags asked for a GPU.
fn engine_note(args: &DrawArgs) -> Option<String> {
    match args.engine.backend {
        Some(BackendChoice::Auto | BackendChoice::Cpu) => None,
        Some(gpu) => Some(format!(
            "note: --backend {gpu} is accepted, but the page classifies on the CPU engine: one \
             drawing costs less there than a GPU round trip"
        )),
        None if args.engine.adapter.is_some() => Some(
            "note: --adapter is accepted, but the page classifies on the CPU engine".to_string(),
        ),
        None => None,
    }
}

/// Asks the desktop to open `url` (xdg-open, open or start); says what to do if it cannot.
/// Never blocks the server: the opener's exit status is checked on a background thread.
pub fn open_browser(url: &str) {
    let (program, leading): (&str, &[&str]) = if cfg!(target_os = "macos") {
        ("open", &[])
    } else if cfg!(windows) {
        // `start` is a cmd built-in; its first quoted argument is a window title.
        ("cmd", &["/C", "start", ""])
    } else {
        ("xdg-open", &[])
    };
    let spawned = Command::new(program)
        .args(leading)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            let url = url.to_string();
            let waiter = std::thread::Builder::new()
                .name("open-browser".into())
                .spawn(move || match child.wait() {
                    Ok(status) if status.success() => {}
                    Ok(status) => println!(
                        "Could not open a browser ({program} {status}); open {url} yourself."
                    ),
                    Err(e) => {
                        println!("Could not open a browser ({program}: {e}); open {url} yourself.")
                    }
                });
            if waiter.is_err() {
                println!(
                    "Could not watch the browser opener; if no page opened, open the URL above."
                );
            }
        }
        Err(e) => println!("Could not open a browser ({program}: {e}); open {url} yourself."),
    }
}
