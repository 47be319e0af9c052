//! `--test-split F`: a seeded, class-stratified test set carved out of a source that has no test
//! part. Each class gives its own share, `round(F · members)`, drawn with the seed, while keeping
//! at least one member for training; both parts keep the source's order.

use super::{DataError, Samples};
use crate::error::ConfigError;
use crate::setting::{Phrase, Setting};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Keeps the split's draws apart from the shuffles and initialisation driven by the same seed.
const TEST_SPLIT_STREAM: u64 = 0x5445_5354_5350_4c54;

/// `(train, test)` of `all`, about `fraction` of each class going to the test part.
pub fn stratified(
    all: &Samples,
    fraction: f64,
    seed: u64,
) -> Result<(Samples, Samples), DataError> {
    let mut by_class: Vec<Vec<usize>> = Vec::new();
    for (i, &label) in all.labels.iter().enumerate() {
        let class = usize::from(label);
        if by_class.len() <= class {
            by_class.resize_with(class + 1, Vec::new);
        }
        by_class[class].push(i);
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ TEST_SPLIT_STREAM);
    let mut test = Vec::new();
    for members in &mut by_class {
        let share = (fraction * members.len() as f64).round() as usize;
        let quota = share.min(members.len().saturating_sub(1));
        // A partial Fisher–Yates shuffle: the first `quota` members are a uniform draw.
        for i in 0..quota {
            let j = rng.random_range(i..members.len());
            members.swap(i, j);
        }
        test.extend_from_slice(&members[..quota]);
    }
    if test.is_empty() {
        return Err(ConfigError::new(nothing_held_out(fraction, &by_class)).into());
    }
    test.sort_unstable();
    let mut in_test = vec![false; all.count];
    test.iter().for_each(|&i| in_test[i] = true);
    let train: Vec<usize> = (0..all.count).filter(|&i| !in_test[i]).collect();
    Ok((all.select(&train), all.select(&test)))
}

/// Why no class gave a test sample, and what would. The split is per class, so the data's
/// total says nothing: 100 classes of 3 samples give none at 0.1 (round(0.3) = 0), however many
/// samples there are in all.
fn nothing_held_out(fraction: f64, by_class: &[Vec<usize>]) -> Phrase {
    let sizes: Vec<usize> = by_class.iter().map(Vec::len).filter(|&n| n > 0).collect();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let classes = sizes.len();
    if largest < 2 {
        return crate::phrase![
            Setting::TestSplit,
            format!(
                " {fraction} holds out no test samples: each of the {classes} classes has a \
                 single sample, which training needs; pass "
            ),
            Setting::TestData,
            " PATH"
        ];
    }
    // round(F · largest) >= 1 from F = 0.5 / largest on; shown rounded up to hundredths.
    let enough = (0.5 / largest as f64 * 100.0).ceil() / 100.0;
    crate::phrase![
        Setting::TestSplit,
        format!(
            " {fraction} holds out no test samples: each class gives round({fraction} × its \
             size), keeping one for training, and the largest of the {classes} classes has \
             {largest} samples; use "
        ),
        Setting::TestSplit,
        format!(" {enough} or more, or pass "),
        Setting::TestData,
        " PATH"
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Inputs;

    fn samples(labels: Vec<u16>) -> Samples {
        let n = labels.len();
        Samples::new(Inputs::Pixels((0..n).map(|i| i as u8).collect()), labels, 1).unwrap()
    }

    #[test]
    fn each_class_gives_its_share_and_keeps_one_for_training() {
        // 100 of class 0, 10 of class 1, 1 of class 2.
        let mut labels = vec![0u16; 100];
        labels.extend([1; 10]);
        labels.push(2);
        let (train, test) = stratified(&samples(labels), 0.2, 7).unwrap();
        let count = |s: &Samples, c: u16| s.labels.iter().filter(|&&l| l == c).count();
        assert_eq!(
            (count(&test, 0), count(&test, 1), count(&test, 2)),
            (20, 2, 0)
        );
        assert_eq!(
            (count(&train, 0), count(&train, 1), count(&train, 2)),
            (80, 8, 1)
        );
        // The seed decides which; the same seed, the same split.
        assert_eq!(
            stratified(&samples(vec![0; 50]), 0.2, 7)
                .unwrap()
                .1
                .inputs
                .len(),
            10
        );
        let a = stratified(&samples((0..60).map(|i| i % 3).collect()), 0.25, 1).unwrap();
        let b = stratified(&samples((0..60).map(|i| i % 3).collect()), 0.25, 1).unwrap();
        let c = stratified(&samples((0..60).map(|i| i % 3).collect()), 0.25, 2).unwrap();
        assert_eq!(a.1.inputs, b.1.inputs);
        assert_ne!(a.1.inputs, c.1.inputs);
    }

    #[test]
    fn many_small_classes_say_why_none_is_held_out() {
        // 100 classes of 3: 300 samples, yet 0.1 of each class rounds to 0.
        let err = stratified(&samples((0..300).map(|i| i % 100).collect()), 0.1, 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("largest of the 100 classes has 3 samples") && err.contains("0.17"),
            "{err}"
        );
        let (_, test) = stratified(&samples((0..300).map(|i| i % 100).collect()), 0.17, 1).unwrap();
        assert_eq!(test.count, 100);
        let err = stratified(&samples((0..40).collect()), 0.5, 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("each of the 40 classes has a single sample"),
            "{err}"
        );
    }
}
