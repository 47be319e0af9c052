//! The `gpu-mlp` command: parse, call the library, print errors as one line.

use clap::Parser;
use gpu_mlp::cli::{Cli, Command};
use gpu_mlp::commands;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome: anyhow::Result<()> = match &cli.command {
        Command::Train(args) => commands::train::run(args).map(|_| ()).map_err(Into::into),
        Command::Fetch(args) => commands::fetch::run(args).map_err(Into::into),
        Command::Eval(args) => commands::eval::run(args).map(|_| ()).map_err(Into::into),
        Command::Predict(args) => commands::predict::run(args).map_err(Into::into),
        Command::Show(args) => commands::show::run(args).map_err(Into::into),
        Command::Draw(args) => commands::draw::run(args).map_err(Into::into),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
