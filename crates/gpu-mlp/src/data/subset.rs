//! `--train-samples N`: a seeded, class-stratified subset of the training part, so a sweep can
//! screen settings on a few thousand samples before the full runs. Each class keeps its share of
//! the N (largest remainders round), its members drawn with the run's seed; the chosen samples
//! keep their order in the data set, so `--validation-split` then holds out the subset's end as
//! it holds out the full set's.

use crate::data::Samples;
use crate::error::ConfigError;
use crate::setting::Setting;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Keeps the subset's draws apart from the shuffles and initialisation driven by the same seed.
const SUBSET_STREAM: u64 = 0x5355_4253_4554;

/// `n` samples of `samples`, each class in proportion to its share, drawn with `seed`.
/// `n` equal to the count keeps everything; more is an error.
pub fn stratified(samples: &Samples, n: usize, seed: u64) -> Result<Samples, ConfigError> {
    if n == 0 || n > samples.count {
        return Err(ConfigError::new(crate::phrase![
            Setting::TrainSamples,
            format!(
                " must be between 1 and the {} training samples; got {n}",
                samples.count
            )
        ]));
    }
    let mut by_class: Vec<Vec<usize>> = Vec::new();
    for (i, &label) in samples.labels.iter().enumerate().take(samples.count) {
        let class = label as usize;
        if by_class.len() <= class {
            by_class.resize_with(class + 1, Vec::new);
        }
        by_class[class].push(i);
    }
    let quotas = quotas(&by_class.iter().map(Vec::len).collect::<Vec<_>>(), n);
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ SUBSET_STREAM);
    let mut chosen = Vec::with_capacity(n);
    for (members, quota) in by_class.iter_mut().zip(quotas) {
        // A partial Fisher–Yates shuffle: the first `quota` members are a uniform draw.
        for i in 0..quota {
            let j = rng.random_range(i..members.len());
            members.swap(i, j);
        }
        chosen.extend_from_slice(&members[..quota]);
    }
    chosen.sort_unstable();
    Ok(samples.select(&chosen))
}

/// How many of `n` each class with `counts` members gets: its exact share rounded down, then
/// one more for the largest remainders (ties: the lower class) until the shares add up to `n`.
fn quotas(counts: &[usize], n: usize) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    let exact: Vec<(usize, usize)> = counts
        .iter()
        .map(|&c| ((n * c) / total, (n * c) % total))
        .collect();
    let mut quotas: Vec<usize> = exact.iter().map(|&(q, _)| q).collect();
    let mut by_remainder: Vec<usize> = (0..counts.len()).collect();
    by_remainder.sort_by_key(|&k| (std::cmp::Reverse(exact[k].1), k));
    let short = n - quotas.iter().sum::<usize>();
    for &k in by_remainder.iter().take(short) {
        quotas[k] += 1;
    }
    quotas
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1000 samples of 3 features; class k has 100 + 40k members (100..460), interleaved.
    fn skewed() -> Samples {
        let mut labels = Vec::new();
        for k in 0..10u16 {
            labels.extend(std::iter::repeat_n(k, 100 + 40 * k as usize));
        }
        // Interleave deterministically so classes are not in blocks.
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        for i in (1..labels.len()).rev() {
            labels.swap(i, rng.random_range(0..=i));
        }
        let count = labels.len();
        Samples {
            inputs: crate::data::Inputs::Pixels(
                (0..count * 3).map(|i| (i / 3 % 251) as u8).collect(),
            ),
            labels,
            count,
            features: 3,
        }
    }

    fn class_counts(s: &Samples) -> Vec<usize> {
        let mut counts = vec![0; 10];
        for &l in &s.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    #[test]
    fn each_class_keeps_its_share() {
        let all = skewed();
        let full = class_counts(&all);
        for n in [10, 137, 500, 2799] {
            let sub = stratified(&all, n, 42).unwrap();
            assert_eq!((sub.count, sub.labels.len()), (n, n));
            assert_eq!(sub.inputs.len(), n * 3);
            for (k, &c) in class_counts(&sub).iter().enumerate() {
                let share = n as f64 * full[k] as f64 / all.count as f64;
                assert!(
                    (c as f64 - share).abs() < 1.0,
                    "n {n} class {k}: {c} vs {share}"
                );
            }
        }
        assert_eq!(stratified(&all, all.count, 1).unwrap(), all);
    }

    #[test]
    fn rows_stay_whole_and_in_order() {
        let all = skewed();
        let sub = stratified(&all, 300, 3).unwrap();
        // Every chosen row is a row of the full set with its own label, in the set's order.
        let mut last = None;
        for i in 0..sub.count {
            let row = sub.input(i);
            let source = (0..all.count)
                .find(|&j| all.input(j) == row && all.labels[j] == sub.labels[i] && Some(j) > last)
                .expect("a row of the full set");
            last = Some(source);
        }
    }

    #[test]
    fn the_seed_decides_the_draw() {
        let all = skewed();
        let a = stratified(&all, 200, 42).unwrap();
        assert_eq!(a, stratified(&all, 200, 42).unwrap());
        let b = stratified(&all, 200, 43).unwrap();
        assert_ne!(a.inputs, b.inputs);
        assert_eq!(class_counts(&a), class_counts(&b));
    }

    #[test]
    fn sizes_outside_the_set_are_refused() {
        let all = skewed();
        for n in [0, all.count + 1] {
            let err = stratified(&all, n, 0).unwrap_err();
            assert_eq!(err.settings().next(), Some(Setting::TrainSamples));
            let err = err.to_string();
            assert!(
                err.starts_with("training samples must be") && err.contains("2800"),
                "{err}"
            );
        }
    }
}
