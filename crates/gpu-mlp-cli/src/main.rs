//! The `gpu-mlp` command: parse, call the library, print errors as one line.

use gpu_mlp_cli::cli::Command;
use gpu_mlp_cli::commands;
use gpu_mlp_cli::exit_status;
use gpu_mlp_cli::run_config::{self, CliError};
use std::process::ExitCode;

fn main() -> ExitCode {
    restore_default_sigpipe();
    // Library messages name this command line's flags from here on.
    gpu_mlp_cli::flags::install();
    let cli = match run_config::parse_cli(std::env::args_os()) {
        Ok(cli) => cli,
        Err(CliError::Clap(e)) => e.exit(),
        Err(CliError::Config(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit_status::EXIT_BAD_SETTINGS);
        }
        Err(CliError::Failed(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit_status::exit_status(&e));
        }
    };
    quiet_stdout_failures();
    // `println!` panics when standard output cannot take a line (`> /dev/full`, a closed
    // descriptor): that ends the command with one error line, not a panic's report.
    let run = std::panic::catch_unwind(|| dispatch(&cli));
    let result = match run {
        Ok(outcome) => outcome,
        Err(payload) => match stdout_failure(payload.as_ref()) {
            Some(why) => Err(anyhow::anyhow!("cannot write to standard output: {why}")),
            None => std::panic::resume_unwind(payload),
        },
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

/// What std's `println!` panics with when standard output fails.
const STDOUT_PANIC: &str = "failed printing to stdout: ";

/// The write error in a panic's `payload`, when it is `println!`'s.
fn stdout_failure(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())?;
    text.strip_prefix(STDOUT_PANIC).map(str::to_string)
}

/// Keeps the default panic report for every panic but a failed `println!`, which `main` turns
/// into its error line.
fn quiet_stdout_failures() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if stdout_failure(info.payload()).is_none() {
            default(info);
        }
    }));
}

/// Runs the command.
fn dispatch(cli: &gpu_mlp_cli::cli::Cli) -> anyhow::Result<()> {
    match &cli.command {
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
