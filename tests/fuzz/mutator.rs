//! A coverage-free mutation fuzzer on stable Rust: each input is a seed from a small corpus of
//! valid files, changed by a few random edits of the kinds that break parsers (bit flips,
//! boundary values in length fields, cut, repeated or spliced ranges). The random numbers come
//! from `rand_pcg`, seeded, so every input can be made again from its number.
//!
//! A run lasts `FUZZ_ITERATIONS` inputs (default: a few seconds' worth, for CI) or, when
//! `FUZZ_SECONDS` is set, that long. A panic is caught, the input is saved under
//! `target/fuzz-crashes/`, and the test fails naming the file.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Values that sit on the edges parsers get wrong.
const INTERESTING_U32: [u32; 10] = [
    0,
    1,
    2,
    0x7f,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    4096,
];

/// How long a run lasts.
enum Budget {
    Iterations(u64),
    Time(Duration),
}

fn budget(default_iterations: u64) -> Budget {
    let env = |name| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    match (env("FUZZ_SECONDS"), env("FUZZ_ITERATIONS")) {
        (Some(s), _) => Budget::Time(Duration::from_secs(s)),
        (None, Some(n)) => Budget::Iterations(n),
        (None, None) => Budget::Iterations(default_iterations),
    }
}

/// One random edit of `data` (`donor`: another seed to splice from).
fn mutate_once(data: &mut Vec<u8>, donor: &[u8], rng: &mut Pcg64) {
    let len = data.len();
    let pos = |rng: &mut Pcg64| {
        if len == 0 {
            0
        } else {
            rng.random_range(0..len)
        }
    };
    match rng.random_range(0..10) {
        0 if len > 0 => {
            let i = pos(rng);
            data[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = pos(rng);
            data[i] = rng.random();
        }
        2 if len > 0 => {
            let i = pos(rng);
            data[i] = [0u8, 0xff, 0x7f, 0x80, b'0', b'9', b'\r', b'\n', b':', b'"']
                [rng.random_range(0..10)];
        }
        3 if len >= 4 => {
            // A boundary value in a 32-bit field, either byte order.
            let i = rng.random_range(0..=len - 4);
            let v = INTERESTING_U32[rng.random_range(0..INTERESTING_U32.len())];
            let bytes = if rng.random() {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            data[i..i + 4].copy_from_slice(&bytes);
        }
        4 if len >= 8 => {
            // A boundary value in a 64-bit little-endian field (safetensors' header length).
            let i = rng.random_range(0..=len - 8);
            let v =
                [0u64, 1, u64::MAX, 1 << 40, len as u64, (len as u64) * 2][rng.random_range(0..6)];
            data[i..i + 8].copy_from_slice(&v.to_le_bytes());
        }
        5 if len > 0 => {
            // Cut: the file ends early.
            data.truncate(pos(rng));
        }
        6 if len > 1 => {
            // Remove a range.
            let a = pos(rng);
            let b = (a + rng.random_range(1..=64)).min(len);
            data.drain(a..b);
        }
        7 if len > 0 && len < 1 << 20 => {
            // Repeat a range.
            let a = pos(rng);
            let b = (a + rng.random_range(1..=64)).min(len);
            let copy = data[a..b].to_vec();
            let at = pos(rng);
            data.splice(at..at, copy);
        }
        8 if !donor.is_empty() => {
            // Splice: the start of this input, the rest of another.
            let cut = pos(rng).min(len);
            let from = rng.random_range(0..donor.len());
            data.truncate(cut);
            data.extend_from_slice(&donor[from..]);
        }
        _ => {
            // Insert random bytes.
            let at = pos(rng);
            let n = rng.random_range(1..=16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            data.splice(at..at, bytes);
        }
    }
}

/// Feeds `target` the seeds, then mutated seeds until the budget is spent; returns how many
/// inputs were tried. `target` says whether it accepted the input (for the summary). A panic in
/// `target` saves the input and fails the test.
pub fn fuzz(
    name: &str,
    seeds: &[Vec<u8>],
    default_iterations: u64,
    mut target: impl FnMut(&[u8]) -> bool,
) -> u64 {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let budget = budget(default_iterations);
    let started = Instant::now();
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut tried = 0u64;
    let mut accepted = 0u64;
    loop {
        let done = match budget {
            Budget::Iterations(n) => tried >= n,
            // Checked every 64 inputs: reading the clock costs more than a small input.
            Budget::Time(t) => tried.is_multiple_of(64) && started.elapsed() >= t,
        };
        if done {
            break;
        }
        let input = if (tried as usize) < seeds.len() {
            seeds[tried as usize].clone()
        } else {
            let mut input = seeds[rng.random_range(0..seeds.len())].clone();
            let donor = &seeds[rng.random_range(0..seeds.len())];
            for _ in 0..rng.random_range(1..=8) {
                mutate_once(&mut input, donor, &mut rng);
            }
            input
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| target(&input)));
        if outcome.is_err() {
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-crashes");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{seed}-{tried}.bin"));
            let _ = std::fs::write(&file, &input);
            panic!(
                "{name}: input {tried} (FUZZ_SEED={seed}) panicked; saved as {}",
                file.display()
            );
        }
        accepted += u64::from(outcome.unwrap_or(false));
        tried += 1;
    }
    eprintln!(
        "{name}: {tried} inputs in {:.1} s ({accepted} accepted), no panic",
        started.elapsed().as_secs_f64()
    );
    tried
}
