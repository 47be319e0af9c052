//! [`Trainer`]: the front door to training. Each setting is stated once; it opens the engine,
//! gives it its starting parameters and runs the loop.

use crate::data::Dataset;
use crate::engine::gpu::GpuOptions;
use crate::engine::{open_engine, BackendChoice, EngineOptions, OpenedEngine, OptimizerState};
use crate::error::Result;
use crate::model::optimizer::Optimizer;
use crate::model::ModelSpec;
use crate::training::early_stopping::EarlyStopping;
use crate::training::run::{run_from, Observer, Progress, TrainConfig, TrainReport};
use crate::training::schedule::Schedule;

/// Trains a model: its [`ModelSpec`], how to train ([`TrainConfig`]'s settings, one method
/// each) and on which engine. [`fit`](Self::fit) opens the engine, starts it from parameters
/// drawn from the seed ([`ModelSpec::init_parameters`]) or from those given, and trains.
///
/// ```no_run
/// use gpu_mlp::{load_dataset, BackendChoice, DataSource, ModelSpec, Optimizer, Silent, Trainer};
/// # fn main() -> gpu_mlp::Result<()> {
/// let source = DataSource::Dir { dir: "data/mnist".into(), hint: None };
/// let data = load_dataset(&source, &Default::default())?;
/// let spec = ModelSpec::new(data.features(), vec![128], data.classes(), 0.2)?;
/// let report = Trainer::new(spec)
///     .optimizer(Optimizer::adam(1e-3))
///     .batch_size(32)
///     .epochs(5)
///     .seed(42)
///     .backend(BackendChoice::Auto)
///     .fit(&data, &mut Silent)?;
/// println!("test accuracy {:.4}", report.test.accuracy());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Trainer {
    spec: ModelSpec,
    config: TrainConfig,
    engine: EngineOptions,
    parameters: Option<Vec<f32>>,
    moments: Option<OptimizerState>,
}

impl Trainer {
    /// A trainer of `spec` with [`TrainConfig::default`]'s settings (the TensorFlow quickstart's:
    /// 5 epochs of batch 32, Adam at 1e-3, seed 42) on [`BackendChoice::Auto`].
    pub fn new(spec: ModelSpec) -> Self {
        Self {
            spec,
            config: TrainConfig::default(),
            engine: EngineOptions::default(),
            parameters: None,
            moments: None,
        }
    }

    /// Every loop setting at once (e.g. from a command line); replaces the earlier ones.
    pub fn config(mut self, config: TrainConfig) -> Self {
        self.config = config;
        self
    }

    /// The update rule.
    pub fn optimizer(mut self, optimizer: Optimizer) -> Self {
        self.config.optimizer = optimizer;
        self
    }

    /// Samples per optimizer step (the last step of an epoch may be short).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.config.batch_size = batch_size;
        self
    }

    /// Passes over the training data.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.config.epochs = epochs;
        self
    }

    /// The seed of the initial parameters (unless given), the shuffles and dropout.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// The fraction of the training data held out for validation, from its end (Keras).
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.config.validation_split = fraction;
        self
    }

    /// The shape of the learning rate over the run.
    pub fn lr_schedule(mut self, schedule: Schedule) -> Self {
        self.config.lr_schedule = schedule;
        self
    }

    /// Steps of linear learning-rate warm-up at the start of the run.
    pub fn warmup(mut self, steps: u64) -> Self {
        self.config.warmup = steps;
        self
    }

    /// Stop when a metric stops improving.
    pub fn early_stopping(mut self, rule: EarlyStopping) -> Self {
        self.config.early_stopping = Some(rule);
        self
    }

    /// The engine: a GPU through a graphics API, the CPU engine, or `Auto`.
    pub fn backend(mut self, backend: BackendChoice) -> Self {
        self.engine.backend = backend;
        self
    }

    /// The GPU adapter, by index or name substring (see [`crate::engine::gpu::list_adapters`]).
    pub fn adapter(mut self, adapter: impl Into<String>) -> Self {
        self.engine.adapter = Some(adapter.into());
        self
    }

    /// The GPU engine's settings.
    pub fn gpu_options(mut self, options: GpuOptions) -> Self {
        self.engine.gpu = options;
        self
    }

    /// The engine's choice and settings at once (backend, adapter, GPU options).
    pub fn engine(mut self, options: EngineOptions) -> Self {
        self.engine = options;
        self
    }

    /// Start from these parameters (flat layout of [`ModelSpec::layers`], e.g. a checkpoint's)
    /// instead of ones drawn from the seed.
    pub fn parameters(mut self, parameters: Vec<f32>) -> Self {
        self.parameters = Some(parameters);
        self
    }

    /// Start Adam from these moments (a resumed run's) instead of zeros.
    pub fn optimizer_state(mut self, moments: OptimizerState) -> Self {
        self.moments = Some(moments);
        self
    }

    /// The model trained.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The loop's settings.
    pub fn settings(&self) -> &TrainConfig {
        &self.config
    }

    /// Rows of a batch the engine must hold for `data`: the batch size, or the training rows
    /// when fewer (a batch larger than the split is the whole split).
    pub fn engine_batch(&self, data: &Dataset) -> usize {
        let (train_rows, _) = self.config.split_rows(data.train.count);
        self.config.batch_size.min(train_rows.max(1))
    }

    /// Opens the engine for training on `data`, holding the starting parameters (and the
    /// moments, when given). The settings are checked first, so a bad one fails before a device
    /// is opened. [`fit`](Self::fit) does this; call it to show the engine before training.
    pub fn open(&self, data: &Dataset) -> Result<OpenedEngine> {
        self.config.validate()?;
        let drawn;
        let parameters = match &self.parameters {
            Some(given) => given,
            None => {
                drawn = self.spec.init_parameters(self.config.seed);
                &drawn
            }
        };
        let mut opened = open_engine(
            &self.engine,
            &self.spec,
            parameters,
            self.config.optimizer,
            self.engine_batch(data),
        )?;
        if let Some(moments) = &self.moments {
            opened.engine.set_optimizer_state(moments)?;
        }
        Ok(opened)
    }

    /// Trains on `data`'s training split, telling `observer` of the progress, and evaluates the
    /// test split: [`open`](Self::open), then the loop ([`run`](crate::training::run)).
    pub fn fit(&self, data: &Dataset, observer: &mut dyn Observer) -> Result<TrainReport> {
        let mut opened = self.open(data)?;
        self.fit_on(
            opened.engine.as_mut(),
            data,
            observer,
            Progress::new(&self.config),
        )
    }

    /// The loop on an engine [`open`](Self::open) returned, going on from `progress` (a resumed
    /// run's, or [`Progress::new`]).
    pub fn fit_on(
        &self,
        engine: &mut dyn crate::engine::Engine,
        data: &Dataset,
        observer: &mut dyn Observer,
        progress: Progress,
    ) -> Result<TrainReport> {
        run_from(&self.config, data, engine, observer, progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Samples;
    use crate::engine::cpu::CpuEngine;
    use crate::engine::Engine;
    use crate::training::run::{run, Silent};

    /// 3 classes told apart by which third of 12 pixels is inked, with some noise.
    fn data() -> Dataset {
        let samples = |n: usize, salt: usize| {
            let labels: Vec<u16> = (0..n).map(|i| ((i * 7 + salt) % 3) as u16).collect();
            let pixels = labels
                .iter()
                .enumerate()
                .flat_map(|(i, &l)| {
                    (0..12).map(move |p| {
                        let noise = ((i * 31 + p * 17 + salt) % 60) as u8;
                        if p / 4 == l as usize {
                            195 + noise
                        } else {
                            noise
                        }
                    })
                })
                .collect();
            Samples::pixels(pixels, labels, 12).unwrap()
        };
        let names = ["a", "b", "c"].map(String::from).to_vec();
        Dataset::new("thirds", names, (3, 4), samples(90, 0), samples(30, 1)).unwrap()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn a_trainer_trains_as_the_loop_on_an_engine_given_the_seeds_parameters() {
        let data = data();
        let spec = ModelSpec::new(12, vec![16, 8], 3, 0.1).unwrap();
        let config = TrainConfig {
            epochs: 3,
            batch_size: 8,
            validation_split: 0.2,
            seed: 9,
            optimizer: Optimizer::adam(5e-3),
            ..TrainConfig::default()
        };
        let mut engine = CpuEngine::new(
            &spec,
            &spec.init_parameters(config.seed),
            config.optimizer,
            config.batch_size,
        )
        .unwrap();
        let by_hand = run(&config, &data, &mut engine, &mut Silent).unwrap();
        let trainer = Trainer::new(spec.clone())
            .optimizer(config.optimizer)
            .batch_size(8)
            .epochs(3)
            .validation_split(0.2)
            .seed(9)
            .backend(BackendChoice::Cpu);
        assert_eq!(
            trainer.settings(),
            &config,
            "each setting lands in its place"
        );
        let fitted = trainer.fit(&data, &mut Silent).unwrap();
        assert_eq!(bits(&fitted.parameters), bits(&by_hand.parameters));
        assert_eq!(fitted.history.len(), 3);
        for (a, b) in fitted.history.iter().zip(&by_hand.history) {
            assert_eq!(
                (a.loss.to_bits(), a.accuracy.to_bits(), a.validation),
                (b.loss.to_bits(), b.accuracy.to_bits(), b.validation)
            );
        }
        assert_eq!(fitted.test, by_hand.test);
        assert!(fitted.test.accuracy() > 0.9, "{:?}", fitted.test);

        // Given parameters replace the seed's: the run goes on from the trained ones.
        let again = trainer
            .clone()
            .parameters(fitted.parameters.clone())
            .epochs(1)
            .fit(&data, &mut Silent)
            .unwrap();
        assert!(again.history[0].loss < by_hand.history[0].loss);
    }

    #[test]
    fn no_engine_starts_without_parameters() {
        let spec = ModelSpec::new(12, vec![4], 3, 0.0).unwrap();
        let opt = Optimizer::adam(1e-3);
        for given in [Vec::new(), vec![0.0; spec.parameter_count() - 1]] {
            let e = CpuEngine::new(&spec, &given, opt, 4)
                .err()
                .expect("refused");
            assert!(e.to_string().contains("parameters given"), "{e}");
            let e = Trainer::new(spec.clone())
                .backend(BackendChoice::Cpu)
                .parameters(given)
                .fit(&data(), &mut Silent)
                .expect_err("refused");
            assert!(e.to_string().contains("parameters given"), "{e}");
        }
        let init = spec.init_parameters(3);
        let mut engine = CpuEngine::new(&spec, &init, opt, 4).unwrap();
        assert_eq!(
            engine.parameters().unwrap(),
            init,
            "it holds what it was given"
        );
    }

    #[test]
    fn bad_settings_fail_before_an_engine_opens() {
        let spec = ModelSpec::new(12, vec![4], 3, 0.0).unwrap();
        // A GPU backend that may not exist here: the settings' error comes first.
        let e = Trainer::new(spec)
            .backend(BackendChoice::Vulkan)
            .epochs(0)
            .fit(&data(), &mut Silent)
            .expect_err("no epochs");
        assert!(matches!(e, crate::Error::Config(_)), "{e}");
    }

    /// Library errors name settings in plain words; the flags are the command line's.
    #[test]
    fn errors_name_the_setting_not_a_flag() {
        use crate::setting::Setting;
        use crate::training::early_stopping::Monitor;
        let spec = ModelSpec::new(12, vec![4], 3, 0.0).unwrap();
        let fit = |trainer: Trainer| match trainer
            .backend(BackendChoice::Cpu)
            .fit(&data(), &mut Silent)
        {
            Err(crate::Error::Config(e)) => e,
            other => panic!("not a setting's error: {:?}", other.err()),
        };
        let watch_val_loss = EarlyStopping {
            patience: 2,
            monitor: Monitor::ValLoss,
            min_delta: 0.0,
            restore_best: false,
        };
        let cases = [
            (
                fit(Trainer::new(spec.clone()).epochs(0)),
                "epochs must be at least 1",
            ),
            (
                fit(Trainer::new(spec.clone()).batch_size(0)),
                "batch size must be at least 1",
            ),
            (
                fit(Trainer::new(spec.clone()).validation_split(1.5)),
                "validation split must be in [0, 1), got 1.5",
            ),
            (
                fit(Trainer::new(spec.clone()).early_stopping(watch_val_loss)),
                "monitor val_loss needs a validation split",
            ),
            (
                ModelSpec::new(12, vec![4, 0], 3, 0.0).unwrap_err(),
                "hidden width: layer 2 has width 0; every hidden layer needs at least 1 unit",
            ),
            (
                "tpu".parse::<BackendChoice>().unwrap_err(),
                "backend 'tpu' is not one of auto, vulkan, metal, dx12, gl, cpu",
            ),
        ];
        for (error, want) in &cases {
            assert_eq!(error.to_string(), *want);
            assert!(
                error.settings().next().is_some(),
                "{want}: names its setting"
            );
        }
        assert_eq!(
            cases[3].0.settings().collect::<Vec<_>>(),
            [Setting::Monitor, Setting::ValidationSplit]
        );
        let others = ["step:0:0.5".parse::<Schedule>().unwrap_err().to_string(), {
            let saved = serde_json::json!({"batch_size": 32, "epochs": 5});
            let now = serde_json::json!({"batch_size": 64, "epochs": 5});
            let (saved, now) = (saved.as_object().unwrap(), now.as_object().unwrap());
            crate::training::resume::check_unchanged(saved, now)
                .unwrap_err()
                .to_string()
        }];
        for message in cases.iter().map(|(e, _)| e.to_string()).chain(others) {
            assert!(!message.contains("--"), "names a flag: {message}");
        }
    }
}
