//! The byte progress bar `fetch` and a first `train` draw on stderr while a data set downloads
//! (the library reports bytes through `DownloadProgress`; drawing is the command line's).

use gpu_mlp::data::fetch::{DownloadProgress, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

struct Bar(ProgressBar);

impl DownloadProgress for Bar {
    fn advance(&mut self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
    fn abandon(&mut self) {
        self.0.abandon();
    }
}

fn start(name: &str, len: Option<u64>) -> Box<dyn DownloadProgress> {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let template = if len.is_some() {
        "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{msg:28} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.to_string());
    Box::new(Bar(bar))
}

/// A bar per file when stderr is a terminal, else nothing.
pub fn on_stderr() -> Progress {
    std::io::stderr().is_terminal().then_some(start as _)
}
