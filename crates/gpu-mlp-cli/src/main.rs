//! The `gpu-mlp` command: parse, call the library, print errors as one line.

use gpu_mlp_cli::cli::Command;
use gpu_mlp_cli::commands;
use gpu_mlp_cli::exit_status;
use gpu_mlp_cli::run_config::{self, CliError};
use std::process::ExitCode;

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = match run_config::parse_cli(std::env::args_os()) {
        Ok(cli) => cli,
        Err(CliError::Clap(e)) => e.exit(),
        Err(CliError::Config(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit_status::EXIT_BAD_SETTINGS);
        }
    };
    let result: anyhow::Result<()> = match &cli.command {
        Command::Train(args) => commands::train::run(args).map(|_| ()).map_err(Into::into),
        Command::Summary(args) => commands::summary::run(args).map_err(Into::into),
        Command::Fetch(args) => commands::fetch::run(args).map_err(Into::into),
        Command::Devices(args) => commands::devices::run(args).map_err(Into::into),
        Command::Verify(args) => commands::verify::run(args).map(|_| ()).map_err(Into::into),
        Command::Bench(args) => commands::bench::run(args).map(|_| ()).map_err(Into::into),
        Command::Eval(args) => commands::eval::run(args).map(|_| ()).map_err(Into::into),
        Command::Predict(args) => commands::predict::run(args).map_err(Into::into),
        Command::Export(args) => commands::export::run(args).map_err(Into::into),
        Command::Show(args) => commands::show::run(args).map_err(Into::into),
        Command::Draw(args) => commands::draw::run(args).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            // Exit statuses a sweep engine tells apart (documented in `train --help`).
            let status = err
                .downcast_ref::<gpu_mlp::Error>()
                .map_or(exit_status::EXIT_FAILED, exit_status::exit_status);
            ExitCode::from(status)
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the message already holds
/// (several errors name their cause in their own message).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// Rust ignores SIGPIPE, so `gpu-mlp eval | head` would panic in `println!` once `head` exits.
/// A command-line tool should end quietly instead, as other Unix tools do.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; setting a signal's
    // disposition to the default is async-signal-safe and has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
