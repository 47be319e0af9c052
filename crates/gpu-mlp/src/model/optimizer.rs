//! Optimizer settings and the per-step values both engines share.
//!
//! Adam follows Keras numerics: `α_t = lr·sqrt(1-β2^t)/(1-β1^t)` is computed once per step on the
//! host in f64 and handed to the engines as f32, then `m = β1·m + (1-β1)·g`,
//! `v = β2·v + (1-β2)·g²`, `w -= α_t·m/(sqrt(v)+ε)`. With a weight decay W (AdamW, decoupled as in
//! PyTorch's and Keras's `AdamW`), each step first shrinks the parameters by the step's
//! (scheduled, not bias-corrected) learning rate times W: `w -= (lr_t·W)·w`.

/// Which update rule to apply after each mini-batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Adam, with Keras's step rule (see the module docs).
    Adam {
        /// Learning rate.
        lr: f32,
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the root of the second moment.
        epsilon: f32,
        /// Decoupled weight decay (AdamW); 0 for plain Adam.
        weight_decay: f32,
    },
    /// Plain stochastic gradient descent, `w -= lr·g`.
    Sgd {
        /// Learning rate.
        lr: f32,
    },
}

impl Optimizer {
    /// Keras's Adam defaults with the given learning rate.
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            weight_decay: 0.0,
        }
    }

    /// AdamW: Keras's Adam defaults with the given learning rate and decoupled weight decay.
    pub fn adamw(lr: f32, weight_decay: f32) -> Self {
        let mut optimizer = Self::adam(lr);
        if let Optimizer::Adam {
            weight_decay: decay,
            ..
        } = &mut optimizer
        {
            *decay = weight_decay;
        }
        optimizer
    }

    /// AdamW's decay of step `t` whose learning rate is scaled by `factor`: the parameters lose
    /// this fraction of themselves before the Adam update (`lr·factor·W`, rounded once to f32;
    /// exactly 0 without weight decay).
    pub fn decay(&self, factor: f64) -> f32 {
        match *self {
            Optimizer::Adam {
                lr, weight_decay, ..
            } if weight_decay != 0.0 => (lr as f64 * factor * weight_decay as f64) as f32,
            _ => 0.0,
        }
    }

    /// The base learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Adam { lr, .. } | Optimizer::Sgd { lr } => lr,
        }
    }

    /// The step size applied at (1-based) step `t`: `α_t` for Adam, `lr` for SGD.
    pub fn step_size(&self, t: u64) -> f32 {
        self.scheduled_step_size(t, 1.0)
    }

    /// The step size at step `t` with the learning rate scaled by a schedule's `factor`,
    /// multiplied in f64 before the one rounding to f32 (a factor of exactly 1 gives
    /// [`step_size`](Self::step_size)'s bits).
    pub fn scheduled_step_size(&self, t: u64, factor: f64) -> f32 {
        match *self {
            Optimizer::Adam {
                lr, beta1, beta2, ..
            } => {
                let t = t as i32;
                let correction =
                    (1.0 - (beta2 as f64).powi(t)).sqrt() / (1.0 - (beta1 as f64).powi(t));
                (lr as f64 * correction * factor) as f32
            }
            Optimizer::Sgd { lr } => (lr as f64 * factor) as f32,
        }
    }

    /// A short human description: `Adam(lr=0.001, eps=0.0000001)`.
    pub fn describe(&self) -> String {
        match *self {
            Optimizer::Adam {
                lr,
                epsilon,
                weight_decay,
                ..
            } if weight_decay != 0.0 => {
                format!("AdamW(lr={lr}, eps={epsilon}, weight_decay={weight_decay})")
            }
            Optimizer::Adam { lr, epsilon, .. } => format!("Adam(lr={lr}, eps={epsilon})"),
            Optimizer::Sgd { lr } => format!("SGD(lr={lr})"),
        }
    }
}
