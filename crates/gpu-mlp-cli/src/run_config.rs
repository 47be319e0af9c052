//! `train --config FILE`: settings from a TOML or JSON file keyed by the flags' names, so a sweep
//! engine writes one small file per trial. A flag given on the command line wins over the file.
//!
//! `train --resume FILE` hands the run's recorded settings back to the flags the same way.
//!
//! The file's values go through the flags' own parsers, so a value is checked exactly as it is on
//! the command line, and an error names the key. Keys are spelled as the flags (`batch-size`) or
//! with underscores (`batch_size`, as TOML and JSON usually are).

use crate::cli::Cli;
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command, CommandFactory, FromArgMatches};
use gpu_mlp::error::ConfigError;
use serde_json::Value;
use std::ffi::OsString;
use std::path::Path;

/// The subcommand a config file configures.
const SUBCOMMAND: &str = "train";
/// The flag naming the file; a file cannot name another one.
const CONFIG_ARG: &str = "config";
/// The flag naming a checkpoint whose recorded settings the run takes.
const RESUME_ARG: &str = "resume";

/// Why the command line could not be turned into a [`Cli`].
#[derive(Debug)]
pub enum CliError {
    /// clap's own error (including `--help` and `--version`, which exit 0).
    Clap(clap::Error),
    /// The `--config` file is unreadable, malformed, or holds an unknown key or a bad value;
    /// or `--resume` names a checkpoint without a training state (exit status 2).
    Config(ConfigError),
    /// The `--resume` checkpoint could not be read: a failure, as for `--init-from` (exit 1).
    Failed(gpu_mlp::Error),
}

/// Parses `argv` (program name first) and, for `train --config FILE`, adds the file's settings
/// for every flag the command line does not give.
pub fn parse_cli<I, T>(argv: I) -> Result<Cli, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let command = Cli::command();
    let matches = command
        .clone()
        .try_get_matches_from(&argv)
        .map_err(CliError::Clap)?;
    let extra = match matches.subcommand() {
        Some((SUBCOMMAND, train)) => {
            let file = |arg: &str| train.get_one::<std::path::PathBuf>(arg);
            let (source, settings) = match (file(CONFIG_ARG), file(RESUME_ARG)) {
                (Some(path), _) => (
                    format!("--config {}", path.display()),
                    crate::config_file::read_settings(path).map_err(CliError::Config)?,
                ),
                (None, Some(path)) => (
                    format!("--resume {}", path.display()),
                    resumed_settings(path)?,
                ),
                (None, None) => (String::new(), Vec::new()),
            };
            config_arguments(&command, train, &source, settings).map_err(CliError::Config)?
        }
        _ => Vec::new(),
    };
    let matches = if extra.is_empty() {
        matches
    } else {
        let full: Vec<OsString> = argv.into_iter().chain(extra).collect();
        command.try_get_matches_from(full).map_err(CliError::Clap)?
    };
    Cli::from_arg_matches(&matches).map_err(CliError::Clap)
}

/// Settings a checkpoint records that name files to write: a resumed run never takes them (the
/// file may be a copy, and its recorded paths the original run's), so its outputs go where its
/// own command line says, and its checkpoint by default back into the file it goes on from.
const OUTPUT_KEYS: [&str; 4] = ["save", "metrics_out", "plot", "summary_json"];

/// The settings a `--resume` checkpoint recorded for its run, with `--save` the file itself
/// and no other output.
fn resumed_settings(path: &Path) -> Result<Vec<(String, Value)>, CliError> {
    let ckpt = gpu_mlp::checkpoint::load(path).map_err(CliError::Failed)?;
    match ckpt.resume {
        Some(state) => {
            let mut settings: Vec<(String, Value)> = state
                .settings
                .into_iter()
                .filter(|(key, _)| !OUTPUT_KEYS.contains(&key.as_str()))
                .collect();
            // (A name that is not UTF-8 is not spelled out: `train` saves there by default.)
            if let Some(save) = path.to_str() {
                settings.push(("save".to_string(), Value::String(save.to_string())));
            }
            Ok(settings)
        }
        None => Err(CliError::Config(ConfigError::new(format!(
            "--resume {}: {}",
            path.display(),
            crate::flags::NO_STATE
        )))),
    }
}

/// The command-line arguments (`--lr=0.01`, `--offline`) that carry `settings` (from `source`,
/// e.g. `--config FILE`) for every flag `given` does not take from the command line. Fails on
/// unknown keys (naming all of them) and on the first bad value (naming its key).
fn config_arguments(
    command: &Command,
    given: &ArgMatches,
    source: &str,
    settings: Vec<(String, Value)>,
) -> Result<Vec<OsString>, ConfigError> {
    let train = command
        .find_subcommand(SUBCOMMAND)
        .ok_or_else(|| ConfigError::new("the train command is missing"))?;
    let settable: Vec<&Arg> = train
        .get_arguments()
        .filter(|a| {
            a.get_long().is_some() && ![CONFIG_ARG, RESUME_ARG].contains(&a.get_id().as_str())
        })
        .collect();
    let find = |key: &str| {
        let flag = key.replace('_', "-");
        settable
            .iter()
            .copied()
            .find(|a| a.get_long() == Some(flag.as_str()))
    };
    let unknown: Vec<&str> = settings
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| find(key).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(ConfigError::new(format!(
            "{source}: unknown key{} {}; the keys are train's flags: {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            settable
                .iter()
                .filter_map(|a| a.get_long())
                .map(|l| l.replace('-', "_"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut arguments = Vec::new();
    for (key, value) in &settings {
        let bad = |why: String| ConfigError::new(format!("{source}: key '{key}': {why}"));
        let Some(arg) = find(key) else { continue };
        let id = arg.get_id().as_str();
        if !seen.insert(id) {
            return Err(bad("given twice (with - and with _)".to_string()));
        }
        let long = arg.get_long().unwrap_or(id);
        let text = setting_text(arg, value).map_err(bad)?;
        if let Some(text) = &text {
            check_value(train, long, text).map_err(bad)?;
        }
        if given.value_source(id) == Some(ValueSource::CommandLine) {
            continue;
        }
        match text {
            Some(text) => arguments.push(OsString::from(format!("--{long}={text}"))),
            None if value == &Value::Bool(true) => arguments.push(format!("--{long}").into()),
            None => {}
        }
    }
    Ok(arguments)
}

/// The command-line text of one setting: `None` for a switch (`true` sets it, `false` not).
fn setting_text(arg: &Arg, value: &Value) -> Result<Option<String>, String> {
    if !arg.get_action().takes_values() {
        return match value {
            Value::Bool(_) => Ok(None),
            _ => Err(format!("expected true or false, got {value}")),
        };
    }
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a value, got {other}")),
    };
    match value {
        // An empty list is no layer at all: `hidden = []`, as --summary-json writes a network
        // without hidden layers, is `--hidden none` (a blank --hidden is refused).
        Value::Array(items) if items.is_empty() => Ok(Some("none".to_string())),
        // A list (`hidden = [64, 32]`) is the flag's comma-separated form.
        Value::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| Some(parts.join(","))),
        other => scalar(other).map(Some),
    }
}

/// Checks one value with the flag's own parser, by parsing `--long=text` alone. Only a value
/// error counts: a flag this one requires is checked with the whole command line later.
fn check_value(train: &Command, long: &str, text: &str) -> Result<(), String> {
    let alone = train
        .clone()
        .no_binary_name(true)
        .try_get_matches_from([format!("--{long}={text}")]);
    match alone {
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::InvalidValue | ErrorKind::ValueValidation
            ) =>
        {
            Err(clap_reason(&e))
        }
        _ => Ok(()),
    }
}

/// The reason in a clap value error, without clap's prefix and usage hints.
fn clap_reason(e: &clap::Error) -> String {
    if let Some(source) = std::error::Error::source(e) {
        return source.to_string();
    }
    let rendered = e.render().to_string();
    let reason: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let reason = reason.join(" ");
    match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            reason.trim_start_matches("error: ").to_string()
        }
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command as Sub, OptimizerArg, TrainArgs};

    fn parse(dir: &Path, name: &str, text: &str, flags: &[&str]) -> Result<TrainArgs, String> {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let mut argv = vec!["gpu-mlp".to_string(), "train".to_string()];
        argv.extend(flags.iter().map(|f| f.to_string()));
        argv.push("--config".to_string());
        argv.push(path.display().to_string());
        match parse_cli(argv) {
            Ok(Cli {
                command: Sub::Train(args),
            }) => Ok(args),
            Ok(other) => Err(format!("parsed {other:?}")),
            Err(CliError::Config(e)) => Err(e.to_string()),
            Err(CliError::Clap(e)) => Err(format!("clap: {e}")),
            Err(CliError::Failed(e)) => Err(format!("failed: {e}")),
        }
    }

    #[test]
    fn toml_and_json_set_the_flags_and_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "lr = 0.01\nhidden = [64, 32]\nbatch_size = 64\noptimizer = \"sgd\"\n\
                    offline = true\ntrain-samples = 500\n";
        let args = parse(dir.path(), "t.toml", toml, &[]).unwrap();
        assert_eq!(args.lr, 0.01);
        assert_eq!(args.network.hidden_layers(), vec![64, 32]);
        assert_eq!(args.batch_size, 64);
        assert_eq!(args.optimizer, OptimizerArg::Sgd);
        assert!(args.data.offline);
        assert_eq!(args.train_samples, Some(500));
        // The command line wins, the file fills in the rest.
        let args = parse(
            dir.path(),
            "t.toml",
            toml,
            &["--lr", "0.5", "--batch-size=8"],
        )
        .unwrap();
        assert_eq!((args.lr, args.batch_size), (0.5, 8));
        assert_eq!(args.network.hidden_layers(), vec![64, 32]);
        // JSON, by extension or by content; a switch set to false stays off.
        let json = r#"{"lr": 0.002, "epochs": 2, "offline": false, "hidden": "none"}"#;
        for name in ["t.json", "trial.cfg"] {
            let args = parse(dir.path(), name, json, &[]).unwrap();
            assert_eq!((args.lr, args.epochs), (0.002, 2));
            assert!(!args.data.offline);
            assert!(args.network.hidden_layers().is_empty());
        }
        // Without the file, the defaults.
        let args = parse(dir.path(), "empty.toml", "", &[]).unwrap();
        assert_eq!((args.lr, args.epochs, args.batch_size), (1e-3, 5, 32));
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = parse(
            dir.path(),
            "t.toml",
            "lr = 0.1\nlearning_rate = 1\nepoch = 3\n",
            &[],
        )
        .unwrap_err();
        assert!(err.contains("unknown keys"), "{err}");
        assert!(
            err.contains("learning_rate") && err.contains("epoch,"),
            "{err}"
        );
        assert!(err.contains("batch_size"), "lists the known keys: {err}");
        let err = parse(dir.path(), "t.toml", "config = \"other.toml\"\n", &[]).unwrap_err();
        assert!(err.contains("unknown key config"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for (text, key, reason) in [
            ("lr = -1\n", "'lr'", "positive number"),
            ("lr = \"fast\"\n", "'lr'", "positive number"),
            ("epochs = 0\n", "'epochs'", "0"),
            ("dropout = 1.5\n", "'dropout'", "[0, 1)"),
            ("hidden = [64, 0]\n", "'hidden'", "at least 1 unit"),
            ("optimizer = \"rmsprop\"\n", "'optimizer'", "rmsprop"),
            ("dataset = \"cifar\"\n", "'dataset'", "cifar"),
            ("offline = \"yes\"\n", "'offline'", "true or false"),
            ("seed = { a = 1 }\n", "'seed'", "expected a value"),
            // Checked even when the command line overrides it: the file is wrong either way.
            ("batch_size = 0\n", "'batch_size'", "0"),
        ] {
            let err = parse(dir.path(), "t.toml", text, &["--batch-size", "4"]).unwrap_err();
            assert!(err.contains(key) && err.contains(reason), "{text}: {err}");
        }
        let err = parse(dir.path(), "t.toml", "lr = \n", &[]).unwrap_err();
        assert!(err.contains("not valid TOML"), "{err}");
        let err = parse(dir.path(), "t.json", "[1, 2]", &[]).unwrap_err();
        assert!(err.contains("table of settings"), "{err}");
        let err = parse(dir.path(), "t.toml", "lr = 0.1\n", &[]).map(|_| ());
        assert!(err.is_ok());
        let missing = dir.path().join("missing.toml");
        let err = match parse_cli(["gpu-mlp", "train", "--config", missing.to_str().unwrap()]) {
            Err(CliError::Config(e)) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(err.contains("cannot read --config"), "{err}");
    }
}
