//! A digest of the samples a run trains and tests on. A training checkpoint records it, so that
//! `--resume` can tell when the data changed under the run it goes on with. It is taken of what
//! the loader produced (inputs and labels as loaded), so no data file is read a second time and
//! every kind of source (IDX, images, CSV, `.npz`, `--test-data`) is covered alike; a change that
//! leaves every sample as it was (a file re-saved, a comment) is no change.

use super::{Dataset, Inputs};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How many samples, how many bytes, and a hash of those bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataDigest {
    /// Samples of the train and test parts together.
    pub samples: u64,
    /// Bytes of their inputs and labels as loaded.
    pub bytes: u64,
    /// A 64-bit hash of those bytes (and of the parts' shapes), as 16 hex digits.
    pub hash: String,
}

impl DataDigest {
    /// The digest of `data`'s train and test parts (one pass over their bytes: about 30 ms for
    /// MNIST).
    pub fn of(data: &Dataset) -> Self {
        let mut hasher = Hasher::new();
        let mut samples = 0;
        for part in [data.train(), data.test()] {
            samples += part.count() as u64;
            hasher.word(part.count() as u64);
            hasher.word(part.features() as u64);
            match part.inputs() {
                Inputs::Pixels(p) => {
                    hasher.word(0);
                    hasher.write(p);
                }
                Inputs::Values(v) => {
                    hasher.word(1);
                    hasher.write(bytemuck::cast_slice(v));
                }
            }
            hasher.write(bytemuck::cast_slice(part.labels()));
        }
        DataDigest {
            samples,
            bytes: hasher.bytes,
            hash: format!("{:016x}", hasher.finish()),
        }
    }
}

impl fmt::Display for DataDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} samples, {} bytes, hash {}",
            self.samples, self.bytes, self.hash
        )
    }
}

/// A fast non-cryptographic hash, eight bytes a step: it tells changed data from unchanged, it
/// does not withstand someone forging a collision (nor need to: the user owns both files).
struct Hasher {
    state: u64,
    /// Bytes written (words of shape excluded).
    bytes: u64,
}

impl Hasher {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new() -> Self {
        Self {
            state: 0x243f_6a88_85a3_08d3,
            bytes: 0,
        }
    }

    fn word(&mut self, word: u64) {
        self.state = (self.state ^ word)
            .wrapping_mul(Self::MULTIPLIER)
            .rotate_left(29);
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.word(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        // The length goes in too: trailing zeros are not nothing.
        self.word(u64::from_le_bytes(last) ^ bytes.len() as u64);
        self.bytes += bytes.len() as u64;
    }

    /// The state mixed so that every bit of it moves every bit of the result (splitmix64's
    /// finaliser).
    fn finish(&self) -> u64 {
        let mut z = self.state ^ self.bytes;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(bytes: &[u8]) -> u64 {
        let mut h = Hasher::new();
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn one_changed_byte_or_a_longer_run_of_zeros_changes_the_hash() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let base = hash(&data);
        for at in [0, 7, 8, 500, 999] {
            let mut changed = data.clone();
            changed[at] ^= 1;
            assert_ne!(hash(&changed), base, "byte {at}");
        }
        assert_ne!(hash(&[0; 16]), hash(&[0; 17]));
        assert_ne!(hash(&[0; 16]), hash(&[0; 24]));
        assert_eq!(hash(&data), base);
    }
}
