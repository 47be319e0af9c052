//! The `gpu-mlp` command line over the `gpu_mlp` library: arguments and `--config` files
//! ([`cli`], [`run_config`], [`config_file`]), one module per subcommand ([`commands`]), the
//! Keras-shaped epoch lines and progress bars ([`console`]), `--metrics-out` ([`metrics_file`]), `--summary-json`
//! ([`run_summary`]), plots, the draw server, signals ([`interrupt`]) and exit statuses
//! ([`exit_status`]). A library target only so the integration tests can reach the commands;
//! the binary is `src/main.rs`.

// Its doc comments are clap's `--help` text, plain text rather than Markdown (`<name>`).
#[allow(rustdoc::invalid_html_tags)]
pub mod cli;
pub mod commands;
pub mod config_file;
pub mod console;
pub mod download_bar;
pub mod draw;
pub mod exit_status;
pub mod flags;
pub mod interrupt;
pub mod metrics_file;
pub mod output_paths;
pub mod plots;
pub mod run_config;
pub mod run_summary;
