//! Training settings a careless user can give: a learning rate that makes training explode, a
//! batch larger than the data. Each stops or is said plainly, never a silent bad model.

mod support;

use gpu_mlp::cpu::CpuEngine;
use gpu_mlp::engine::Engine;
use gpu_mlp::model::ModelSpec;
use gpu_mlp::optimizer::Optimizer;
use gpu_mlp::train::{self, Silent, TrainConfig};
use gpu_mlp::Error;

#[test]
fn an_exploding_loss_stops_training_with_advice() {
    let data = support::mnist();
    let spec = ModelSpec::new(data.features(), vec![32], data.classes(), 0.0).expect("a spec");
    for optimizer in [Optimizer::adam(1e9), Optimizer::Sgd { lr: 1e9 }] {
        let config = TrainConfig {
            epochs: 2,
            batch_size: 64,
            validation_split: 0.0,
            seed: 1,
            optimizer,
        };
        let mut engine =
            CpuEngine::new(&spec, config.optimizer, config.batch_size).expect("engine");
        engine
            .set_parameters(&spec.init_parameters(config.seed))
            .expect("parameters");
        match train::run(&config, data, &mut engine, &mut Silent) {
            Err(e @ Error::Diverged { .. }) => {
                assert!(e.to_string().contains("lower learning rate"), "{e}")
            }
            Err(e) => panic!("{optimizer:?}: another error: {e}"),
            Ok(report) => panic!(
                "{optimizer:?}: trained to loss {} without complaint",
                report.history.last().map_or(f64::NAN, |r| r.loss)
            ),
        }
    }
}
