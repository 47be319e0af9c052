//! Fault injection on the device, for testing `verify` itself: `GPU_MLP_MUTANT=NAME` compiles
//! one kernel deliberately wrong, through the `MUTANT` override constant of
//! `kernels/prelude.wgsl`, so a test can prove that `verify` catches each kind of plausible
//! kernel bug on the GPU (not only a value changed after readback). Only `verify` reads the
//! variable, and says so in its first line and its JSON; training never does. Without it no
//! constant is set, `MUTANT` keeps its default 0 and every mutant branch folds away at pipeline
//! creation, so the kernels compute what they compute without this module.

/// The environment variable that picks a mutant.
pub const ENV: &str = "GPU_MLP_MUTANT";

numbered_enum! {
    /// One deliberate bug; its number is the shader's `MUTANT_...` constant.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Mutant {
        /// Every product sums over k − 1 terms: the last k element skipped.
        MatmulSkipLastK = 1,
        /// The forward epilogues leave the bias out.
        MatmulNoBias = 2,
        /// The ReLU backward mask passes where the activation is zero and blocks where it is not.
        ReluMaskInverted = 3,
        /// The ReLU backward mask of row i is read from row i − 1.
        ReluMaskRowOffset = 4,
        /// Inverted dropout without its 1/(1 − rate) scale.
        DropoutUnscaled = 5,
        /// Adam's epsilon in PyTorch's place, `sqrt(v)/sqrt(1 − β2^t) + ε` (the shader takes t = 1),
        /// instead of Keras's `sqrt(v) + ε̂`.
        AdamPytorchEpsilon = 6,
        /// Softmax without the max shift: exp overflows for large logits.
        SoftmaxNoMaxShift = 7,
        /// A short batch's products run over all the rows the buffers were made for.
        ShortBatchUnmasked = 8,
        /// The weight-gradient product's ones-row reads zeros: no bias gradient.
        BiasGradientDropped = 9,
        /// Evaluation's gather ignores the batch's first row: every evaluation batch reads from row 0.
        EvalRowOffset = 10,
        /// AdamW's decoupled decay left out: the step's decay is never applied.
        AdamwDecayDropped = 11,
        /// Adam's ε fixed at Keras's 1e-7 whatever the optimizer's (PyTorch's 1e-8 ignored).
        AdamEpsilonFixed = 12,
        /// f32 values read as packed u8 pixels where rows cross words.
        GatherValuesAsPixels = 13,
        /// Labels cut to a byte: classes above 255 come out wrong.
        GatherLabelByte = 14,
        /// Evaluation predictions written from row 0, not from the step's `out_base`.
        SoftmaxOutBaseIgnored = 15,
        /// Dropout at rate 0.5 whatever the layer's rate (the mask's threshold ignored).
        DropoutRateFixed = 16,
        /// The ReLU backward without dropout's scale.
        ReluMaskUnscaled = 17,
    }
}

impl Mutant {
    /// The value of `GPU_MLP_MUTANT`, e.g. `matmul-skip-last-k`.
    pub fn name(self) -> &'static str {
        match self {
            Mutant::MatmulSkipLastK => "matmul-skip-last-k",
            Mutant::MatmulNoBias => "matmul-no-bias",
            Mutant::ReluMaskInverted => "relu-mask-inverted",
            Mutant::ReluMaskRowOffset => "relu-mask-row-offset",
            Mutant::DropoutUnscaled => "dropout-unscaled",
            Mutant::AdamPytorchEpsilon => "adam-pytorch-epsilon",
            Mutant::SoftmaxNoMaxShift => "softmax-no-max-shift",
            Mutant::ShortBatchUnmasked => "short-batch-unmasked",
            Mutant::BiasGradientDropped => "bias-gradient-dropped",
            Mutant::EvalRowOffset => "eval-row-offset",
            Mutant::AdamwDecayDropped => "adamw-decay-dropped",
            Mutant::AdamEpsilonFixed => "adam-epsilon-fixed",
            Mutant::GatherValuesAsPixels => "gather-values-as-pixels",
            Mutant::GatherLabelByte => "gather-label-byte",
            Mutant::SoftmaxOutBaseIgnored => "softmax-out-base-ignored",
            Mutant::DropoutRateFixed => "dropout-rate-fixed",
            Mutant::ReluMaskUnscaled => "relu-mask-unscaled",
        }
    }

    /// The shader's constant of this mutant: `MUTANT_MATMUL_SKIP_LAST_K`.
    pub fn wgsl_constant(self) -> String {
        format!("MUTANT_{}", self.name().to_uppercase().replace('-', "_"))
    }

    /// The start of the names of the kernel checks this mutant breaks (`verify`'s table).
    pub fn kernel(self) -> &'static str {
        match self {
            Mutant::MatmulSkipLastK | Mutant::ShortBatchUnmasked => "matmul",
            Mutant::MatmulNoBias => "matmul A*B +bias",
            Mutant::ReluMaskInverted | Mutant::ReluMaskRowOffset => "matmul A*B^T relu-mask",
            Mutant::DropoutUnscaled => "matmul A*B +bias relu dropout",
            Mutant::AdamPytorchEpsilon => "adam",
            Mutant::SoftmaxNoMaxShift => "softmax-ce",
            Mutant::BiasGradientDropped => "matmul A^T*B +ones-row",
            Mutant::EvalRowOffset => "gather direct",
            Mutant::AdamwDecayDropped => "adamw",
            Mutant::AdamEpsilonFixed => "adam update",
            Mutant::GatherValuesAsPixels | Mutant::GatherLabelByte => "gather",
            Mutant::SoftmaxOutBaseIgnored => "softmax-ce predictions",
            Mutant::DropoutRateFixed => "matmul A*B +bias relu dropout",
            Mutant::ReluMaskUnscaled => "matmul A*B^T relu-mask",
        }
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        let name = name.trim().to_lowercase();
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "{ENV}={name} names no mutant (one of: {})",
                    names.join(", ")
                )
            })
    }

    /// The mutant `GPU_MLP_MUTANT` names, if set and not empty.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// The pipeline constants that compile `mutant` in: none without one.
    pub fn constants(mutant: Option<Self>) -> Vec<(&'static str, f64)> {
        mutant
            .map(|m| ("MUTANT", f64::from(m as u32)))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_numbers_are_distinct() {
        for (i, m) in Mutant::ALL.into_iter().enumerate() {
            assert_eq!(Mutant::parse(m.name()), Ok(m));
            assert_eq!(m as usize, i + 1);
        }
        assert!(Mutant::parse("nope").is_err_and(|e| e.contains("matmul-no-bias")));
        assert!(Mutant::constants(None).is_empty());
        assert_eq!(
            Mutant::constants(Some(Mutant::EvalRowOffset)),
            [("MUTANT", 10.0)]
        );
    }
}
