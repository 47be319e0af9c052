//! The step record: one training step's (or evaluation batch's) values, read by every kernel
//! at a dynamic offset of the step table (the prelude's `Step`).

use super::mode::Code;

/// Bytes of one step record in the shaders.
pub const STEP_RECORD_BYTES: u64 = 48;

numbered_enum! {
    /// Which sample a batch row reads.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum RowSource {
        /// Row r is sample `order[start + r]` (training, through the epoch's permutation).
        Order = 0,
        /// Row r is sample `start + r` (evaluation).
        Direct = 1,
    }
}

impl RowSource {
    /// `Direct` when `direct`, else `Order`.
    pub fn direct_if(direct: bool) -> Self {
        if direct {
            RowSource::Direct
        } else {
            RowSource::Order
        }
    }
}

uniform_params! {
    /// One step's values, as the prelude's `Step` struct reads them.
    pub struct StepRecord {
        /// First position of the batch in the order buffer (or first sample when direct).
        pub start: u32,
        /// Rows in the batch.
        pub len: u32,
        /// Metric slot this step writes.
        pub slot: u32,
        /// Dropout seed.
        pub seed: u32,
        /// Adam's α_t or SGD's lr.
        pub step_size: f32,
        /// `1/len` rounded on the host (the CPU reference's `1.0 / rows as f32`).
        pub grad_scale: f32,
        pub row_source: Code<RowSource>,
        /// Where evaluation predictions of this batch start.
        pub out_base: u32,
        /// AdamW's decoupled decay of this step (0: none).
        pub decay: f32,
        pub _pad: [u32; 3],
    }
}

impl StepRecord {
    /// A training step over all `len` rows of a batch (seed 0, first slot).
    pub fn full(len: usize) -> Self {
        Self {
            len: len as u32,
            grad_scale: 1.0 / len.max(1) as f32,
            ..Default::default()
        }
    }
}

const _: () = assert!(std::mem::size_of::<StepRecord>() as u64 == STEP_RECORD_BYTES);
