//! `--data PATH`: what the path holds, told by content (the four IDX files, an image folder, a
//! `.npz` archive, or CSV/TSV text), read into parts, then assembled into a [`Dataset`]: the
//! classes matched up between the parts, the test set chosen (the source's own test part,
//! `--test-data`, or a stratified `--test-split`), and the inputs scaled (`--scale`).

use super::names;
use super::raw::{RawLabels, RawPart};
use super::{
    find_files, folder::label_list, images, load_dir, split, ColorMode, DataError, Dataset, Inputs,
    KnownDataset, Label, LoadOptions, Samples, ScaleRequest, Scaling, SourceKind, FILE_STEMS,
    MAX_CLASSES,
};
#[cfg(feature = "formats")]
use super::{npz, table};
use crate::setting::Setting;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How a loaded data set's test part was made; the first line of a run says it.
#[derive(Clone, Debug, PartialEq)]
pub enum TestOrigin {
    /// The source's own test part (IDX `t10k` files, `x_test`/`y_test`, a `test/` folder).
    Own,
    /// `--test-data PATH`.
    Given(PathBuf),
    /// `--test-split`: this fraction of each class, drawn with this seed.
    Split { fraction: f64, seed: u64 },
}

/// How the vocabulary in force names `setting`.
fn name(setting: Setting) -> &'static str {
    crate::setting::vocabulary().name(setting)
}

impl fmt::Display for TestOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestOrigin::Own => f.write_str("the data's own test part"),
            TestOrigin::Given(path) => {
                write!(f, "{} {}", name(Setting::TestData), path.display())
            }
            TestOrigin::Split { fraction, seed } => write!(
                f,
                "{}% of each class held out ({} {fraction}, seed {seed})",
                fraction * 100.0,
                name(Setting::TestSplit)
            ),
        }
    }
}

/// The kinds of source a path can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Idx,
    Images,
    Npz,
    Csv,
}

/// What `path` holds, by its content.
fn kind_of(path: &Path) -> Result<Kind, DataError> {
    let meta = std::fs::metadata(path).map_err(DataError::io_at(path))?;
    if meta.is_dir() {
        let has_idx = FILE_STEMS
            .iter()
            .any(|stem| path.join(stem).exists() || path.join(format!("{stem}.gz")).exists());
        return if has_idx || !images::looks_like_image_folder(path) {
            // Missing IDX files are reported by name, as for any IDX folder.
            Ok(Kind::Idx)
        } else {
            Ok(Kind::Images)
        };
    }
    let mut start = [0u8; 6];
    let got = File::open(path)
        .and_then(|mut f| f.read(&mut start))
        .map_err(DataError::io_at(path))?;
    match &start[..got] {
        [] => Err(DataError::Empty {
            path: path.to_path_buf(),
        }),
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Ok(Kind::Npz),
        [0x93, b'N', b'U', b'M', b'P', b'Y'] => Err(DataError::BadFile {
            path: path.to_path_buf(),
            problem: "is a single .npy array; save inputs and labels together with \
                      numpy.savez(\"data.npz\", x=inputs, y=labels)"
                .to_string()
                .into(),
        }),
        _ => Ok(Kind::Csv),
    }
}

/// One source read into its parts.
struct Parts {
    name: String,
    source: SourceKind,
    train: RawPart,
    test: Option<RawPart>,
    /// Class names a known data set gives its numbered classes.
    known_names: Option<Vec<String>>,
}

/// Reads `path` (see the module docs); `image` fixes the size and colour of an image folder.
fn read_parts(
    path: &Path,
    hint: Option<KnownDataset>,
    opts: &LoadOptions,
) -> Result<Parts, DataError> {
    let name = data_name(path);
    Ok(match kind_of(path)? {
        Kind::Idx => {
            let ds = load_dir(path, hint)?;
            let part = |s: &Samples, which: &str| RawPart {
                feature_names: None,
                path: path.join(which),
                inputs: s.inputs.clone(),
                labels: RawLabels::Numbers(s.labels.clone()),
                shape: (ds.rows, ds.cols, ds.channels),
            };
            Parts {
                train: part(&ds.train, "train-labels-idx1-ubyte"),
                test: Some(part(&ds.test, "t10k-labels-idx1-ubyte")),
                known_names: Some(ds.class_names.clone()),
                name: ds.name,
                source: SourceKind::Idx,
            }
        }
        Kind::Images => {
            let (train, test) = images::read_image_folder(path, opts.image_size, opts.color)?;
            Parts {
                name,
                source: SourceKind::ImageFolder,
                train,
                test,
                known_names: None,
            }
        }
        #[cfg(not(feature = "formats"))]
        Kind::Npz => return Err(not_built_in("NumPy .npz archives")),
        #[cfg(feature = "formats")]
        Kind::Npz => {
            let (train, test) = npz::read_npz(path)?;
            Parts {
                name,
                source: SourceKind::Npz,
                train,
                test,
                known_names: None,
            }
        }
        #[cfg(not(feature = "formats"))]
        Kind::Csv => return Err(not_built_in("CSV tables")),
        #[cfg(feature = "formats")]
        Kind::Csv => Parts {
            name,
            source: SourceKind::Csv,
            train: table::read_csv(path, opts.label_column.as_ref())?,
            test: None,
            known_names: None,
        },
    })
}

/// The error for a file format the `formats` feature would read.
#[cfg(not(feature = "formats"))]
fn not_built_in(what: &'static str) -> DataError {
    DataError::NotBuiltIn {
        what,
        feature: "formats",
    }
}

/// Loads the data set at `path` and says how its test part was made.
pub fn load_path(
    path: impl AsRef<Path>,
    hint: Option<KnownDataset>,
    opts: &LoadOptions,
) -> Result<(Dataset, TestOrigin), DataError> {
    let path = path.as_ref();
    if opts.test_data.is_none() && find_files(path).is_ok() {
        // The four IDX files: read as ever (bit for bit), scaled only when asked to be.
        return Ok((
            rescale(load_dir(path, hint)?, &opts.scale)?,
            TestOrigin::Own,
        ));
    }
    let (parts, given) = match &opts.test_data {
        // Images of the test set are made the size and colour of the training images.
        Some(test_path) if kind_of(path)? == Kind::Images => {
            let parts = read_parts(path, hint, opts)?;
            let (rows, cols, channels) = parts.train.shape;
            let alike = LoadOptions {
                image_size: Some((cols as u32, rows as u32)),
                color: Some(if channels == 3 {
                    ColorMode::Rgb
                } else {
                    ColorMode::Gray
                }),
                ..opts.clone()
            };
            let given = read_test_part(test_path, &alike);
            (Ok(parts), Some(given))
        }
        // Two independent files: read them side by side (parsing dominates).
        Some(test_path) => std::thread::scope(|s| {
            let given = s.spawn(|| read_test_part(test_path, opts));
            let parts = read_parts(path, hint, opts);
            let given = given.join().unwrap_or_else(|_| {
                Err(DataError::BadFile {
                    path: test_path.clone(),
                    problem: "the reader thread panicked".into(),
                })
            });
            (parts, Some(given))
        }),
        None => (read_parts(path, hint, opts), None),
    };
    let parts = parts?;
    let (test, origin) = match (given, &opts.test_data) {
        (Some(given), Some(test_path)) => (Some(given?), TestOrigin::Given(test_path.clone())),
        _ => match parts.test {
            Some(test) => (Some(test), TestOrigin::Own),
            None => (
                None,
                TestOrigin::Split {
                    fraction: opts.test_split,
                    seed: opts.seed,
                },
            ),
        },
    };
    if let (Some(test), SourceKind::ImageFolder) = (&test, parts.source) {
        if test.shape != parts.train.shape {
            return Err(DataError::BadFile {
                path: test.path.clone(),
                problem: crate::phrase![
                    format!(
                        "its images are {}, the training images {}; pass ",
                        describe_shape(test.shape),
                        describe_shape(parts.train.shape)
                    ),
                    Setting::ImageSize,
                    " and ",
                    Setting::Color,
                    " to make them alike"
                ],
            });
        }
    }
    let data = assemble(
        parts.name,
        parts.source,
        parts.train,
        test,
        parts.known_names,
        opts,
    )?;
    Ok((
        Dataset {
            dir: path.to_path_buf(),
            ..data
        },
        origin,
    ))
}

/// The test part at `test_path`: its own test part when it has one, else all of it.
fn read_test_part(test_path: &Path, opts: &LoadOptions) -> Result<RawPart, DataError> {
    let given = read_parts(test_path, None, opts)?;
    Ok(given.test.unwrap_or(given.train))
}

/// The data set of `train` and `test` (`None`: split off `train` by `opts.test_split`).
fn assemble(
    name: String,
    source: SourceKind,
    mut train: RawPart,
    mut test: Option<RawPart>,
    known_names: Option<Vec<String>>,
    opts: &LoadOptions,
) -> Result<Dataset, DataError> {
    if let Some(test) = &test {
        if test.features() != train.features() {
            return Err(DataError::BadFile {
                path: test.path.clone(),
                problem: format!(
                    "its samples have {} values ({}), but the training samples have {} ({})",
                    test.features(),
                    describe_shape(test.shape),
                    train.features(),
                    describe_shape(train.shape)
                )
                .into(),
            });
        }
    }
    // Named columns in the model's order (`eval`), else in the training part's.
    let model = opts.model_names.as_ref();
    let wanted = model
        .map(|m| m.features.clone())
        .filter(|f| !f.is_empty())
        .or_else(|| train.feature_names.clone());
    if let Some(wanted) = &wanted {
        for part in std::iter::once(&mut train).chain(test.as_mut()) {
            names::columns_in_order(part, wanted)?;
        }
    }
    let model_classes = model.filter(|m| m.names_classes()).map(|m| &m.classes[..]);
    let (class_names, train_labels, test_labels) =
        classes(&train, test.as_ref(), known_names, model_classes)?;
    let (rows, cols, _) = train.shape;
    let features = train.features();
    let all = Samples::new(train.inputs, train_labels, features)?;
    let (mut train_samples, mut test_samples) = match (test, test_labels) {
        (Some(test), Some(labels)) => (all, Samples::new(test.inputs, labels, features)?),
        _ => split::stratified(&all, opts.test_split, opts.seed)?,
    };
    // A table of whole numbers 0..=255 is 8-bit pixels (MNIST as CSV) when it reaches 255, as
    // images do; small whole numbers (counts, categories, 0..16 intensities) are standardised.
    let request = match (&opts.scale, &train_samples.inputs) {
        (ScaleRequest::Auto, Inputs::Pixels(p)) if rows == 1 && !p.contains(&u8::MAX) => {
            &ScaleRequest::Standardize
        }
        _ => &opts.scale,
    };
    let scaling = scale(&mut train_samples, &mut test_samples, request)?;
    let shape = pictures_in_a_table(rows, features, &train_samples.inputs).unwrap_or((rows, cols));
    Ok(Dataset {
        source,
        scaling,
        feature_names: wanted.unwrap_or_default(),
        ..Dataset::new(name, class_names, shape, train_samples, test_samples)?
    })
}

/// The side of the square grey pictures a table's rows are, when they are 8-bit pixels (kept
/// packed, so they reach 255) of at least 8×8: Kaggle's MNIST CSV is 28×28 digits, so `show`,
/// `draw` and `predict` on picture files serve its models as they serve the IDX ones.
fn pictures_in_a_table(rows: usize, features: usize, inputs: &Inputs) -> Option<(usize, usize)> {
    let side = (features as f64).sqrt().round() as usize;
    (rows == 1 && matches!(inputs, Inputs::Pixels(_)) && side >= 8 && side * side == features)
        .then_some((side, side))
}

/// The class names, and the labels of both parts as class indices. With `model` (the classes
/// of a saved model), labels that are class names are matched to the model's by name.
#[allow(clippy::type_complexity)]
fn classes(
    train: &RawPart,
    test: Option<&RawPart>,
    known_names: Option<Vec<String>>,
    model: Option<&[String]>,
) -> Result<(Vec<String>, Vec<Label>, Option<Vec<Label>>), DataError> {
    let one_class = |which: String| DataError::BadFile {
        path: train.path.clone(),
        problem: format!(
            "every sample has the same label ({which}); a classifier needs at least 2 classes"
        )
        .into(),
    };
    let mismatch = |test: &RawPart, what: &str| DataError::BadFile {
        path: test.path.clone(),
        problem: format!("its labels are {what}, but the training labels are not").into(),
    };
    match &train.labels {
        RawLabels::Numbers(_) | RawLabels::OneHot { .. } => {
            let (labels, classes) = train.labels.numbers().unwrap_or_default();
            let mut seen = vec![false; MAX_CLASSES];
            labels.iter().for_each(|&l| seen[usize::from(l)] = true);
            let distinct = seen.iter().filter(|&&s| s).count();
            if distinct < 2 {
                let only = labels
                    .first()
                    .map_or("none".to_string(), |l| format!("class {l}"));
                return Err(one_class(only));
            }
            let test_labels = match test.map(|t| (t, t.labels.numbers())) {
                None => None,
                Some((t, None)) => return Err(mismatch(t, "class names")),
                Some((t, Some((test_labels, _)))) => {
                    if let Some((index, &label)) = test_labels
                        .iter()
                        .enumerate()
                        .find(|(_, &l)| !seen[usize::from(l)])
                    {
                        return Err(DataError::UnseenTestLabel {
                            path: t.path.clone(),
                            index,
                            label,
                            training: label_list(&seen),
                        });
                    }
                    Some(test_labels.to_vec())
                }
            };
            let names = match known_names {
                Some(names) if names.len() >= classes => names,
                _ => (0..classes).map(|c| c.to_string()).collect(),
            };
            Ok((names, labels.to_vec(), test_labels))
        }
        RawLabels::Names { names, ids } => {
            let used: std::collections::BTreeSet<u32> = ids.iter().copied().collect();
            if used.len() < 2 {
                let only = ids.first().and_then(|&i| names.get(i as usize));
                return Err(one_class(
                    only.map_or("none".to_string(), |n| format!("class '{n}'")),
                ));
            }
            if names.len() > MAX_CLASSES {
                return Err(DataError::BadFile {
                    path: train.path.clone(),
                    problem: format!(
                        "has {} classes; at most {MAX_CLASSES} are supported",
                        names.len()
                    )
                    .into(),
                });
            }
            if let Some(model) = model {
                return names::model_classes(model, train, test);
            }
            let to_label = |ids: &[u32]| ids.iter().map(|&i| i as Label).collect::<Vec<_>>();
            let test_labels = match test.map(|t| (t, &t.labels)) {
                None => None,
                Some((t, RawLabels::Numbers(_) | RawLabels::OneHot { .. })) => {
                    return Err(mismatch(t, "numbers"))
                }
                Some((
                    t,
                    RawLabels::Names {
                        names: test_names,
                        ids: test_ids,
                    },
                )) => {
                    let index: HashMap<&str, u32> = names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.as_str(), i as u32))
                        .collect();
                    let mut mapped = Vec::with_capacity(test_ids.len());
                    for (i, &id) in test_ids.iter().enumerate() {
                        let name = &test_names[id as usize];
                        match index.get(name.as_str()) {
                            Some(&c) => mapped.push(c),
                            None => {
                                return Err(DataError::BadFile {
                                    path: t.path.clone(),
                                    problem: format!(
                                        "sample {i} has class '{name}', which no training sample \
                                         has (the training classes are {})",
                                        names.join(", ")
                                    )
                                    .into(),
                                })
                            }
                        }
                    }
                    Some(to_label(&mapped))
                }
            };
            Ok((names.clone(), to_label(ids), test_labels))
        }
    }
}

/// Scales both parts as `request` says, measuring on the training part; returns the scaling.
/// 8-bit data stays packed under `/255`; otherwise both parts become `f32`. `auto` standardises
/// a table of small whole numbers (see `assemble`).
fn scale(
    train: &mut Samples,
    test: &mut Samples,
    request: &ScaleRequest,
) -> Result<Scaling, DataError> {
    let bytes = matches!(
        (&train.inputs, &test.inputs),
        (Inputs::Pixels(_), Inputs::Pixels(_))
    );
    let scaling = match request {
        ScaleRequest::Auto if bytes => Scaling::Pixels,
        ScaleRequest::Pixels => Scaling::Pixels,
        ScaleRequest::Auto | ScaleRequest::Standardize => {
            to_values(train);
            Scaling::standardize(values(train), train.features)
        }
        ScaleRequest::None => Scaling::None,
        ScaleRequest::Given(scaling) => scaling.clone(),
    };
    if let Scaling::Standardize { mean, .. } = &scaling {
        if mean.len() != train.features {
            return Err(DataError::Invalid {
                problem: format!(
                    "the data has {} features per sample, but the model was trained on {}; \
                     use a checkpoint trained on this kind of data",
                    train.features,
                    mean.len()
                )
                .into(),
            });
        }
    }
    if scaling == Scaling::Pixels && bytes {
        return Ok(scaling);
    }
    for part in [train, test] {
        to_values(part);
        if let Inputs::Values(v) = &mut part.inputs {
            scaling.apply_all(v, part.features);
        }
    }
    Ok(scaling)
}

/// An IDX data set as loaded, scaled as `request` asks (unchanged for `/255`).
fn rescale(mut data: Dataset, request: &ScaleRequest) -> Result<Dataset, DataError> {
    if matches!(
        request,
        ScaleRequest::Auto | ScaleRequest::Pixels | ScaleRequest::Given(Scaling::Pixels)
    ) {
        return Ok(data);
    }
    data.scaling = scale(&mut data.train, &mut data.test, request)?;
    Ok(data)
}

/// Loads a known data set's IDX files (as [`load_dir`] does) and applies `opts`: its own test
/// part or `--test-data`, and the scaling.
pub fn adapt_known(data: Dataset, opts: &LoadOptions) -> Result<(Dataset, TestOrigin), DataError> {
    if opts.test_data.is_none() {
        return Ok((rescale(data, &opts.scale)?, TestOrigin::Own));
    }
    let dir = data.dir.clone();
    load_path(&dir, None, opts).map(|(d, origin)| {
        (
            Dataset {
                name: data.name,
                ..d
            },
            origin,
        )
    })
}

fn to_values(samples: &mut Samples) {
    if let Inputs::Pixels(p) = &samples.inputs {
        samples.inputs = Inputs::Values(p.iter().map(|&b| f32::from(b)).collect());
    }
}

fn values(samples: &Samples) -> &[f32] {
    match &samples.inputs {
        Inputs::Values(v) => v,
        Inputs::Pixels(_) => &[],
    }
}

fn describe_shape((rows, cols, channels): (usize, usize, usize)) -> String {
    match (rows, channels) {
        (1, 1) => format!("{cols} features"),
        (_, 1) => format!("{cols}x{rows} grey"),
        _ => format!("{cols}x{rows}x{channels}"),
    }
}

/// The data set's name: the folder's or file's name without its extensions.
fn data_name(path: &Path) -> String {
    let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name_of(path)
        .or_else(|| path.canonicalize().ok().and_then(|p| name_of(&p)))
        .unwrap_or_else(|| "data".to_string());
    let mut stem = name.as_str();
    for ext in [".gz", ".csv", ".tsv", ".tab", ".txt", ".npz"] {
        if stem.len() > ext.len() && stem.to_ascii_lowercase().ends_with(ext) {
            stem = &stem[..stem.len() - ext.len()];
        }
    }
    stem.to_string()
}
