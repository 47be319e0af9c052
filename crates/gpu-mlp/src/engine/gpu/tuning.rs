//! Which matmul tile each product of a run uses, measured per adapter and shape.
//!
//! The fastest tile depends on the device and on the shape: on lavapipe register tiles win and
//! the 64-row one only from about 128 rows; on discrete GPUs a shared-memory tile usually wins,
//! by a margin that varies with the batch. So the engine times each of its products with every
//! candidate variant (`MatmulVariant::ALL`) once per adapter, keeps the fastest, and remembers the
//! choice in memory and in a small JSON file (`default_cache_file`), keyed by adapter, driver
//! and shader source, so later runs start without measuring. Every tile computes the same bits
//! (see kernels/matmul/matmul.wgsl; tested), so the choice changes speed only, never results.

use super::context::GpuContext;
use super::kernels::matmul::MatmulVariant as Tile;
pub use super::kernels::matmul::Product;
use super::pipelines::Pipelines;
use super::timing::MatmulTimer;
use crate::error::GpuError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// How the engine picks each product's tile.
#[derive(Clone, Debug, PartialEq)]
pub enum TilePolicy {
    /// Timed once per adapter and product, remembered in memory and, when given, in this file.
    Measured { cache: Option<PathBuf> },
    /// The fixed rule of `MatmulVariant::choose`, without measuring.
    Rule,
}

impl Default for TilePolicy {
    fn default() -> Self {
        TilePolicy::Measured {
            cache: default_cache_file(),
        }
    }
}

/// `$GPU_MLP_TILE_CACHE` (empty: no file), else `tiles.json` in the per-user cache folder
/// (`~/.cache/gpu-mlp/` on Linux), where the data sets are fetched too.
pub fn default_cache_file() -> Option<PathBuf> {
    match std::env::var_os("GPU_MLP_TILE_CACHE") {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => dirs::cache_dir().map(|dir| dir.join("gpu-mlp").join("tiles.json")),
    }
}

/// The tiles of a run's products and what finding them took.
#[derive(Clone, Debug, Default)]
pub struct TileChoices {
    tiles: HashMap<Product, Tile>,
    /// Products timed for this run (found neither in memory nor in the cache file).
    pub measured: usize,
    /// Seconds spent timing them, pipeline compilation included.
    pub seconds: f64,
    /// The cache file, when the policy has one.
    pub cache: Option<PathBuf>,
    /// Problems with the cache file (unreadable, unwritable); the choices stand regardless.
    pub cache_problems: Vec<String>,
}

impl TileChoices {
    /// The tile chosen for `product`, if it was one of the run's.
    pub fn tile(&self, product: Product) -> Option<Tile> {
        self.tiles.get(&product).copied()
    }

    /// One line for the user when something was measured or the cache failed, else `None`.
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.measured > 0 {
            let kept = match &self.cache {
                Some(path) if self.cache_problems.is_empty() => {
                    format!("; kept in {} for later runs", path.display())
                }
                _ => String::new(),
            };
            parts.push(format!(
                "timed the matmul tiles of {} products on this adapter in {:.1} s (once){kept}",
                self.measured, self.seconds
            ));
        }
        parts.extend(self.cache_problems.iter().cloned());
        (!parts.is_empty()).then(|| format!("note: {}", parts.join("; ")))
    }
}

/// Picks a tile for each of `products` on `ctx` under `policy`. Measuring compiles the
/// candidates' pipelines in `pipes` (kept: the engine compiles its chosen ones anyway).
pub fn choose(
    ctx: &Arc<GpuContext>,
    pipes: &Pipelines,
    products: &[Product],
    policy: &TilePolicy,
) -> Result<TileChoices, GpuError> {
    let cache = match policy {
        TilePolicy::Rule => {
            let software = ctx.is_software();
            let tiles = products
                .iter()
                .map(|p| (*p, Tile::choose(software, p.m)))
                .collect();
            return Ok(TileChoices {
                tiles,
                ..TileChoices::default()
            });
        }
        TilePolicy::Measured { cache } => cache.clone(),
    };
    let mut choices = TileChoices {
        cache: cache.clone(),
        ..TileChoices::default()
    };
    let key = adapter_key(ctx);
    let memo_key = (cache.clone(), key.clone());
    let mut memo = memo().lock().unwrap_or_else(|e| e.into_inner());
    let known = memo.entry(memo_key).or_insert_with(|| match &cache {
        Some(path) => match CacheFile::read(path) {
            Ok(file) => file.tiles_for(&key),
            Err(problem) => {
                choices.cache_problems.push(problem);
                HashMap::new()
            }
        },
        None => HashMap::new(),
    });

    let limits = ctx.device.limits();
    let started = Instant::now();
    let mut timed = Vec::new();
    for product in products {
        if choices.tiles.contains_key(product) {
            continue;
        }
        if let Some(tile) = known.get(&product.name()) {
            if product.fits(*tile, &limits) {
                choices.tiles.insert(*product, *tile);
                continue;
            }
        }
        let candidates: Vec<Tile> = candidates(ctx)
            .filter(|t| product.fits(*t, &limits))
            .collect();
        if candidates.is_empty() {
            // Nothing fits: the engine's limit check names the problem.
            let software = ctx.is_software();
            let tile = Tile::choose(software, product.m);
            choices.tiles.insert(*product, tile);
            continue;
        }
        let seconds = time_candidates(ctx, pipes, *product, &candidates)?;
        let mut micros = BTreeMap::new();
        let mut best = (f64::INFINITY, candidates[0]);
        for (tile, seconds) in candidates.into_iter().zip(seconds) {
            micros.insert(tile.name(), (seconds * 1e7).round() / 10.0);
            if seconds < best.0 {
                best = (seconds, tile);
            }
        }
        known.insert(product.name(), best.1);
        choices.tiles.insert(*product, best.1);
        timed.push((product.name(), Measurement::new(best.1, micros)));
    }
    choices.measured = timed.len();
    choices.seconds = started.elapsed().as_secs_f64();
    if let (Some(path), false) = (&cache, timed.is_empty()) {
        let adapter = ctx.describe();
        if let Err(problem) = CacheFile::update(path, &key, &adapter, timed) {
            choices.cache_problems.push(problem);
        }
    }
    Ok(choices)
}

/// The tiles worth timing on `ctx`. On a software adapter (lavapipe) workgroup memory is plain
/// memory and the workgroup-memory tile measured 1.5-4x slower at every MLP shape (2026-11, Mesa
/// 25.0.7), as do many small workgroups, while each candidate costs a 1-4 s LLVM compile the first
/// time: only the variants that suit software adapters are timed there.
fn candidates(ctx: &GpuContext) -> impl Iterator<Item = Tile> {
    let software = ctx.is_software();
    Tile::ALL
        .into_iter()
        .filter(move |t| !software || t.suits_software_adapters())
}

/// The choice remembered for `product` on `ctx` (in memory or the file), without measuring.
pub fn remembered(ctx: &GpuContext, product: Product, cache: Option<&Path>) -> Option<Tile> {
    let key = adapter_key(ctx);
    let memo = memo().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = memo.get(&(cache.map(Path::to_path_buf), key.clone())) {
        return known.get(&product.name()).copied();
    }
    drop(memo);
    let file = CacheFile::read(cache?).ok()?;
    file.tiles_for(&key).get(&product.name()).copied()
}

/// How the candidates are timed; part of the cache key, so choices timed another way (the
/// median of each tile's samples taken one tile after another, before 2026-12) are measured
/// again.
const TIMING_METHOD: &str = "interleaved rounds, fastest sample";
/// Rounds of `time_candidates`: each times every candidate once.
const ROUNDS: usize = 3;
/// Work per sample, in seconds (one dispatch for products slower than that).
const SAMPLE_BUDGET_S: f64 = 0.002;

/// Seconds per product for each of `tiles`: the fastest of `ROUNDS` samples, the rounds taking
/// the tiles in turn. A choice is cached for good, so it must survive a busy machine: taking
/// one tile's samples after another's let a passing load (a build, another process on a shared
/// device) land on one tile and crown the other, as it did on lavapipe at load 10 (reg 32x64
/// kept for 256x784x128, 1.4x slower there than reg 64x64 on a quiet machine). Interleaved, a
/// load lasting a round slows every tile alike, and load only ever adds time, so each tile's
/// fastest sample is its least disturbed one.
fn time_candidates(
    ctx: &Arc<GpuContext>,
    pipes: &Pipelines,
    product: Product,
    tiles: &[Tile],
) -> Result<Vec<f64>, GpuError> {
    let Some((first, rest)) = tiles.split_first() else {
        return Ok(Vec::new());
    };
    let first = MatmulTimer::new(Arc::clone(ctx), pipes, product, *first)?;
    let mut timers = vec![];
    for tile in rest {
        timers.push(first.with_variant(pipes, *tile)?);
    }
    timers.insert(0, first);
    let dispatches = timers
        .iter()
        .map(|timer| timer.calibrate(SAMPLE_BUDGET_S))
        .collect::<Result<Vec<usize>, GpuError>>()?;
    fastest_in_rounds(timers.len(), ROUNDS, |i| timers[i].sample(dispatches[i]))
}

/// For each of `count` candidates, its fastest of `rounds` samples, where each round samples
/// every candidate once, in order.
fn fastest_in_rounds<E>(
    count: usize,
    rounds: usize,
    mut sample: impl FnMut(usize) -> Result<f64, E>,
) -> Result<Vec<f64>, E> {
    let mut fastest = vec![f64::INFINITY; count];
    for _ in 0..rounds.max(1) {
        for (i, best) in fastest.iter_mut().enumerate() {
            *best = best.min(sample(i)?);
        }
    }
    Ok(fastest)
}

type Memo = HashMap<(Option<PathBuf>, String), HashMap<String, Tile>>;

/// Choices already known in this process, per cache file and adapter key.
fn memo() -> &'static Mutex<Memo> {
    static MEMO: OnceLock<Mutex<Memo>> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Identifies what the timings depend on: the adapter, its driver and the matmul shader with
/// its candidate tiles. A new driver or shader means measuring again.
fn adapter_key(ctx: &GpuContext) -> String {
    let info = &ctx.info;
    let mut hash = Sha256::new();
    for part in [
        format!("{:?}", info.backend),
        info.name.clone(),
        format!("{:x}:{:x}", info.vendor, info.device),
        format!("{:?}", info.device_type),
        info.driver.clone(),
        info.driver_info.clone(),
        <super::kernels::matmul::Matmul as super::kernels::Kernel>::SHADER
            .source
            .to_string(),
        format!("{:?}", Tile::ALL),
        TIMING_METHOD.to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// One product's timings: microseconds per candidate and the winner.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Measurement {
    tile: String,
    microseconds: BTreeMap<String, f64>,
}

impl Measurement {
    fn new(tile: Tile, microseconds: BTreeMap<String, f64>) -> Self {
        Self {
            tile: tile.name(),
            microseconds,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct AdapterTiles {
    /// The adapter in words, for whoever reads the file.
    adapter: String,
    products: BTreeMap<String, Measurement>,
}

/// The cache file: `{"format": ..., "adapters": {key: {"adapter": .., "products": {..}}}}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct CacheFile {
    format: String,
    adapters: BTreeMap<String, AdapterTiles>,
}

const CACHE_FORMAT: &str = "gpu-mlp matmul tiles 1";

impl CacheFile {
    fn empty() -> Self {
        Self {
            format: CACHE_FORMAT.to_string(),
            adapters: BTreeMap::new(),
        }
    }

    /// The file's contents; a missing file is empty, an unreadable one is a problem to report
    /// (and is replaced at the next save).
    fn read(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::empty()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        match serde_json::from_str::<CacheFile>(&text) {
            Ok(file) if file.format == CACHE_FORMAT => Ok(file),
            Ok(file) => Err(format!(
                "{} is '{}', not '{CACHE_FORMAT}'; measuring again",
                path.display(),
                file.format
            )),
            Err(e) => Err(format!(
                "{} is not a tile cache ({e}); measuring again",
                path.display()
            )),
        }
    }

    /// The tiles remembered for adapter `key`, only those still among the candidates.
    fn tiles_for(&self, key: &str) -> HashMap<String, Tile> {
        let Some(entry) = self.adapters.get(key) else {
            return HashMap::new();
        };
        entry
            .products
            .iter()
            .filter_map(|(product, m)| {
                let tile = Tile::ALL.into_iter().find(|t| t.name() == m.tile)?;
                Some((product.clone(), tile))
            })
            .collect()
    }

    /// Adds `timed` under `key`: under the file's lock (so concurrent runs take turns),
    /// re-reads the file so entries another run wrote are kept, and writes it atomically.
    fn update(
        path: &Path,
        key: &str,
        adapter: &str,
        timed: Vec<(String, Measurement)>,
    ) -> Result<(), String> {
        let lock = crate::fsio::lock::lock_path_for(path);
        let _lock = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
            _ => Ok(()),
        }
        .and_then(|()| crate::fsio::lock::FileLock::acquire(&lock, || {}))
        .map_err(|e| format!("could not lock {} ({e})", lock.display()))?;
        let mut file = Self::read(path).unwrap_or_else(|_| Self::empty());
        let entry = file.adapters.entry(key.to_string()).or_default();
        entry.adapter = adapter.to_string();
        entry.products.extend(timed);
        let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
        let saved =
            crate::fsio::atomic::write_atomically(path, text.as_bytes()).map_err(|e| e.to_string());
        saved.map_err(|e| {
            format!(
                "could not keep the tile choices in {} ({e})",
                path.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load that starts while the tiles are being timed (each sample 3x slower from the third
    /// on) must not crown the slower tile: timed one tile after another, tile 0 (truly 10 units)
    /// would take its three samples quiet and beat tile 1 (truly 7 units, timed under load).
    #[test]
    fn a_load_arriving_mid_measurement_does_not_pick_the_slower_tile() {
        let truly = [10.0, 7.0];
        let mut calls = 0;
        let mut order = Vec::new();
        let fastest = fastest_in_rounds(2, ROUNDS, |i| {
            calls += 1;
            order.push(i);
            let load = if calls > 2 { 3.0 } else { 1.0 };
            Ok::<f64, ()>(truly[i] * load)
        })
        .unwrap();
        assert_eq!(order, [0, 1, 0, 1, 0, 1]);
        assert_eq!(fastest, [10.0, 7.0]);
        assert!(fastest[1] < fastest[0]);
    }

    #[test]
    fn cache_file_round_trips_and_drops_unknown_tiles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("tiles.json");
        assert_eq!(CacheFile::read(&path).unwrap(), CacheFile::empty());
        let micros = BTreeMap::from([(Tile::Register32.name(), 10.0)]);
        let timed = vec![
            (
                "A*B 32x784x128".to_string(),
                Measurement::new(Tile::Register32, micros.clone()),
            ),
            (
                "A^T*B 785x32x128".to_string(),
                Measurement::new(Tile::Shared64, micros.clone()),
            ),
        ];
        CacheFile::update(&path, "k1", "test adapter", timed).unwrap();
        // A second adapter's entry keeps the first's.
        let other = vec![(
            "A*B 1x1x1".to_string(),
            Measurement::new(Tile::Register64, micros),
        )];
        CacheFile::update(&path, "k2", "other", other).unwrap();
        let file = CacheFile::read(&path).unwrap();
        let tiles = file.tiles_for("k1");
        assert_eq!(tiles.len(), 2);
        assert_eq!(tiles["A*B 32x784x128"], Tile::Register32);
        assert_eq!(tiles["A^T*B 785x32x128"], Tile::Shared64);
        assert_eq!(file.tiles_for("k2")["A*B 1x1x1"], Tile::Register64);
        assert!(file.tiles_for("k3").is_empty());

        // A tile the engine no longer has is forgotten (and so measured again).
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(&Tile::Shared64.name(), "shared 256x256");
        std::fs::write(&path, text).unwrap();
        assert_eq!(CacheFile::read(&path).unwrap().tiles_for("k1").len(), 1);

        // Not a cache file: a problem to report, not a crash.
        std::fs::write(&path, "{ not json").unwrap();
        let problem = CacheFile::read(&path).unwrap_err();
        assert!(problem.contains("not a tile cache"), "{problem}");
    }

    #[test]
    fn concurrent_writers_keep_every_choice() {
        // Each writer holds its own open file, so the lock works between them as it does
        // between processes (flock(2) on Unix, LockFileEx on Windows).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiles.json");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        let m = Measurement::new(
                            crate::engine::gpu::MatmulVariant::Register32,
                            BTreeMap::new(),
                        );
                        let timed = vec![(format!("A*B {w}x{i}x1"), m)];
                        CacheFile::update(&path, "k", "adapter", timed).unwrap();
                    }
                })
            })
            .collect();
        while writers.iter().any(|w| !w.is_finished()) {
            if path.exists() {
                CacheFile::read(&path).expect("always a whole cache file");
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(CacheFile::read(&path).unwrap().tiles_for("k").len(), 80);
    }

    #[test]
    fn product_names_are_stable_cache_keys() {
        use crate::engine::gpu::kernels::matmul::Transpose;
        assert_eq!(
            Product::new(Transpose::A, 785, 32, 128).name(),
            "A^T*B 785x32x128"
        );
        assert_eq!(
            Product::new(Transpose::B, 32, 128, 784).name(),
            "A*B^T 32x128x784"
        );
    }
}
