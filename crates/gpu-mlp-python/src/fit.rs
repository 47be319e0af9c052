//! One training run from Python: the library's loop (`gpu_mlp::training::run_from`) on an
//! engine kept between runs, so a second `fit` or a `partial_fit` goes on with Adam's moments and
//! step count. The GIL is released while the engine works; the loop's events reach a Python
//! callback (which prints Keras's epoch lines through `sys.stdout` and may ask to stop), and a
//! pending Ctrl-C stops the run after the epoch in progress.

use gpu_mlp::error::Interrupted;
use gpu_mlp::training::{run_from, EpochEnd, EpochRecord, Progress, Snapshot};
use gpu_mlp::{
    open_engine, BackendChoice, Dataset, Engine, EngineOptions, Error, ModelSpec, Observer,
    Optimizer, TrainConfig,
};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::time::{Duration, Instant};

/// Both engines are `Send` (checked below); the boxed trait object just does not say so.
pub struct SendEngine(pub Box<dyn Engine>);

// SAFETY: the only implementations `open_engine` returns are `CpuEngine` and `GpuEngine`, both
// `Send` (asserted at compile time in `_engines_are_send`), so moving the box between threads
// moves a `Send` value.
unsafe impl Send for SendEngine {}

#[allow(dead_code)]
fn _engines_are_send() {
    fn send<T: Send>() {}
    send::<gpu_mlp::engine::cpu::CpuEngine>();
    send::<gpu_mlp::engine::gpu::GpuEngine>();
}

/// How an engine was opened: a run with other settings opens a new one.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineKey {
    pub backend: BackendChoice,
    pub adapter: Option<String>,
    pub optimizer: Optimizer,
    pub batch_size: usize,
    pub spec: ModelSpec,
}

/// An engine holding the model's parameters and optimizer moments between runs, and the
/// epochs it has trained (they set the step count Adam's bias correction goes on from).
pub struct Session {
    pub key: EngineKey,
    pub engine: SendEngine,
    pub history: Vec<EpochRecord>,
    /// How the engine was chosen, when worth saying (e.g. why `auto` took the CPU).
    pub note: Option<String>,
}

impl Session {
    /// Opens the engine `key` describes, holding `parameters` and fresh moments.
    pub fn open(key: EngineKey, parameters: &[f32]) -> Result<Session, Error> {
        let options = EngineOptions {
            backend: key.backend,
            adapter: key.adapter.clone(),
            ..EngineOptions::default()
        };
        let opened = open_engine(
            &options,
            &key.spec,
            parameters,
            key.optimizer,
            key.batch_size,
        )?;
        Ok(Session {
            key,
            engine: SendEngine(opened.engine),
            history: Vec::new(),
            note: opened.note,
        })
    }

    /// Trains `epochs` more epochs on `data` (its last `validation_rows` training rows held out
    /// for validation), telling `callback` of every event. Returns the parameters after the
    /// last finished epoch, and the Python error that stopped the run, if one did (a callback's
    /// exception or `KeyboardInterrupt`). A library error is returned as `Err`.
    pub fn train(
        &mut self,
        data: &Dataset,
        validation_rows: usize,
        epochs: usize,
        seed: u64,
        callback: &Py<PyAny>,
    ) -> Result<(Vec<f32>, Option<PyErr>), Error> {
        let done = self.history.len();
        let config = TrainConfig {
            epochs: done + epochs,
            batch_size: self.key.batch_size,
            validation_split: validation_fraction(data.train().count(), validation_rows),
            seed,
            optimizer: self.key.optimizer,
            ..TrainConfig::default()
        };
        let progress = Progress {
            history: std::mem::take(&mut self.history),
            ..Progress::default()
        };
        let mut observer = PyObserver::new(callback, done, progress.history.clone());
        let engine = self.engine.0.as_mut();
        let outcome = run_from(&config, data, engine, &mut observer, progress);
        self.history = std::mem::take(&mut observer.records);
        match outcome {
            Ok(report) => Ok((report.parameters, observer.failed)),
            Err(Error::Interrupted(_)) => Ok((engine.parameters()?, observer.failed)),
            Err(e) => Err(e),
        }
    }
}

/// The `validation_split` that holds out exactly the last `held_out` of `count` rows under
/// `TrainConfig::split_rows`' rounding.
fn validation_fraction(count: usize, held_out: usize) -> f64 {
    if held_out == 0 {
        return 0.0;
    }
    let train = count - held_out;
    let kept = |f: f64| (count as f64 * (1.0 - f)).floor() as usize;
    let mut f = held_out as f64 / count as f64;
    while kept(f) < train {
        f = f.next_down();
    }
    while kept(f) > train {
        f = f.next_up();
    }
    f
}

/// `epoch_end`'s answer: stop after this epoch.
const STOP: u32 = 1;
/// `epoch_end`'s answer: hand this epoch's parameters to the callback (`snapshot` event).
const KEEP: u32 = 2;

/// Progress is handed to Python at most this often (and at each epoch's end).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The loop's observer: each event becomes a call `callback(event, payload)` with the GIL held.
struct PyObserver<'a> {
    callback: &'a Py<PyAny>,
    /// Epochs of earlier runs: Python numbers this run's epochs from 1, as Keras does.
    offset: usize,
    steps: usize,
    last_progress: Instant,
    /// Every finished epoch, earlier runs' first.
    records: Vec<EpochRecord>,
    /// The callback asked to stop after the epoch (early stopping).
    stop: bool,
    /// The callback asked for the epoch's parameters.
    keep: bool,
    /// A Python exception (the callback's, or a pending `KeyboardInterrupt`) stops the run.
    failed: Option<PyErr>,
}

impl<'a> PyObserver<'a> {
    fn new(callback: &'a Py<PyAny>, offset: usize, records: Vec<EpochRecord>) -> Self {
        Self {
            callback,
            offset,
            steps: 0,
            last_progress: Instant::now(),
            records,
            stop: false,
            keep: false,
            failed: None,
        }
    }

    /// Calls the callback (unless an exception is already pending) after letting Python run
    /// its signal handlers; returns what it answered as flags ([`STOP`], [`KEEP`]).
    fn call(
        &mut self,
        event: &str,
        payload: impl FnOnce(Python<'_>) -> PyResult<Py<PyAny>>,
    ) -> u32 {
        if self.failed.is_some() {
            return 0;
        }
        Python::attach(|py| {
            let answer = py.check_signals().and_then(|()| {
                let payload = payload(py)?;
                let answer = self.callback.bind(py).call1((event, payload))?;
                if answer.is_none() {
                    Ok(0)
                } else {
                    answer
                        .extract::<u32>()
                        .or_else(|_| Ok(u32::from(answer.is_truthy()?)))
                }
            });
            answer.unwrap_or_else(|e| {
                self.failed = Some(e);
                0
            })
        })
    }
}

impl Observer for PyObserver<'_> {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.steps = steps;
        self.last_progress = Instant::now();
        let (epoch, epochs) = (epoch - self.offset, epochs - self.offset);
        self.call("epoch_begin", |py| {
            Ok((epoch, epochs, steps)
                .into_pyobject(py)?
                .into_any()
                .unbind())
        });
    }

    fn epoch_progress(&mut self, steps_done: usize, loss: f64, accuracy: f64) {
        if steps_done < self.steps && self.last_progress.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_progress = Instant::now();
        self.call("batch_end", |py| {
            Ok((steps_done, loss, accuracy)
                .into_pyobject(py)?
                .into_any()
                .unbind())
        });
    }

    fn epoch_finished(&mut self, record: &EpochRecord, _epochs: usize) -> gpu_mlp::Result<()> {
        self.records.push(record.clone());
        let epoch = record.epoch - self.offset;
        let answer = self.call("epoch_end", |py| {
            let logs = PyDict::new(py);
            logs.set_item("epoch", epoch)?;
            logs.set_item("loss", record.loss)?;
            logs.set_item("accuracy", record.accuracy)?;
            if let Some((loss, accuracy)) = record.validation {
                logs.set_item("val_loss", loss)?;
                logs.set_item("val_accuracy", accuracy)?;
            }
            logs.set_item("seconds", record.seconds)?;
            Ok(logs.into_any().unbind())
        });
        self.stop |= answer & STOP != 0;
        self.keep = answer & KEEP != 0;
        Ok(())
    }

    fn wants_snapshot(&self, _end: EpochEnd) -> bool {
        self.keep
    }

    /// The callback may answer [`STOP`] here too (Keras's callbacks decide after seeing the
    /// weights); the run then ends before the next epoch.
    fn epoch_snapshot(&mut self, snapshot: &Snapshot) -> gpu_mlp::Result<()> {
        self.keep = false;
        let answer = self.call("snapshot", |py| {
            Ok(PyArray1::from_slice(py, snapshot.parameters)
                .into_any()
                .unbind())
        });
        if answer & STOP != 0 && !snapshot.end.last {
            return Err(Error::Interrupted(Interrupted {
                signal: 0,
                epoch: snapshot.end.epoch,
            }));
        }
        Ok(())
    }

    fn stop_requested(&mut self, epoch: usize) -> Option<Error> {
        (self.stop || self.failed.is_some())
            .then_some(Error::Interrupted(Interrupted { signal: 2, epoch }))
    }
}
