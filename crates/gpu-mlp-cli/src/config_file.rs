//! Reading a `train --config` file into its top-level settings, in the file's order: TOML, or
//! JSON (by extension, or text that starts with `{`). What a careless or hostile file can do is
//! bounded here: its size, a key given twice, values JSON has no words for.

use gpu_mlp::error::ConfigError;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Number, Value};
use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;

/// The most bytes a config file may hold (docs/limits.md). A trial's settings take a few
/// hundred; the bound keeps `--config /dev/zero` or a mistaken data file from filling memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The file's top-level keys and values, in its order.
pub fn read_settings(path: &Path) -> Result<Vec<(String, Value)>, ConfigError> {
    let text = read_bounded(path)?;
    // A byte-order mark (Windows editors write one) is not part of the settings.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let is_json = match path.extension().and_then(OsStr::to_str) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => true,
        Some(ext) if ext.eq_ignore_ascii_case("toml") => false,
        _ => text.trim_start().starts_with('{'),
    };
    let value = if is_json {
        json_settings(path, text)?
    } else {
        toml_settings(path, text)?
    };
    match value {
        Value::Object(map) => Ok(map.into_iter().collect()),
        _ => Err(ConfigError::new(format!(
            "--config {} must hold a table of settings (key = value)",
            path.display()
        ))),
    }
}

/// The file's text, refused past [`MAX_CONFIG_BYTES`] before more than that is read.
fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    let unreadable = |e: std::io::Error| {
        ConfigError::new(format!("cannot read --config {}: {e}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::new(format!(
            "--config {} is larger than {} MiB: a settings file holds a few lines (is it the \
             right file?)",
            path.display(),
            MAX_CONFIG_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        ConfigError::new(format!(
            "--config {} is not text (UTF-8): is it the right file?",
            path.display()
        ))
    })
}

fn json_settings(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let invalid = |e: serde_json::Error| {
        ConfigError::new(format!(
            "--config {} is not valid JSON: {e}",
            path.display()
        ))
    };
    let value: Value = serde_json::from_str(text).map_err(invalid)?;
    if value.is_object() {
        // serde_json keeps the last of two equal keys; a file that says two things is refused.
        if let Some(key) = serde_json::from_str::<TwiceGiven>(text).map_err(invalid)?.0 {
            return Err(given_twice(path, &key, None));
        }
    }
    Ok(value)
}

fn toml_settings(path: &Path, text: &str) -> Result<Value, ConfigError> {
    match toml::from_str::<toml::Table>(text) {
        Ok(table) => Ok(toml_value(toml::Value::Table(table))),
        Err(e) => {
            let line = e.span().map(|span| line_of(text, span.start));
            if e.message() == "duplicate key" {
                if let Some(key) = e.span().and_then(|span| text.get(span)) {
                    return Err(given_twice(path, key.trim().trim_matches('"'), line));
                }
            }
            let at = line.map_or(String::new(), |n| format!(" (line {n})"));
            Err(ConfigError::new(format!(
                "--config {} is not valid TOML{at}: {}",
                path.display(),
                e.message()
            )))
        }
    }
}

fn given_twice(path: &Path, key: &str, line: Option<usize>) -> ConfigError {
    let at = line.map_or(String::new(), |n| format!(" (again on line {n})"));
    ConfigError::new(format!(
        "--config {}: key '{key}' is given twice{at}; keep one",
        path.display()
    ))
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    before.bytes().filter(|&b| b == b'\n').count() + 1
}

/// A TOML value as JSON. NaN and the infinities (which TOML spells `nan`, `inf`) have no JSON
/// number: they become the text a flag would get (`--lr=nan`), so the flag's parser refuses
/// them by name instead of a `null` nobody wrote. A date is its text.
fn toml_value(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Number(i.into()),
        toml::Value::Float(f) => Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(toml_float_text(f))),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_value).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(key, value)| (key, toml_value(value)))
                .collect(),
        ),
    }
}

/// TOML's spelling of a float JSON cannot hold.
fn toml_float_text(f: f64) -> String {
    match f {
        f if f.is_nan() => "nan".to_string(),
        f if f > 0.0 => "inf".to_string(),
        _ => "-inf".to_string(),
    }
}

/// The first top-level key of a JSON object given twice, if any.
struct TwiceGiven(Option<String>);

impl<'de> Deserialize<'de> for TwiceGiven {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = TwiceGiven;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TwiceGiven, A::Error> {
                let mut seen = std::collections::HashSet::new();
                let mut twice = None;
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    if !seen.insert(key.clone()) && twice.is_none() {
                        twice = Some(key);
                    }
                }
                Ok(TwiceGiven(twice))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}
