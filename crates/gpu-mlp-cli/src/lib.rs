//! The `gpu-mlp` command line over the `gpu_mlp` library: arguments and `--config` files
//! ([`cli`], [`run_config`]), one module per subcommand ([`commands`]), console lines and
//! progress bars ([`report`]), `--summary-json` ([`summary`]), plots, the draw server, signals
//! ([`interrupt`]) and exit statuses ([`outcome`]). A library target only so the integration
//! tests can reach the commands; the binary is `src/main.rs`.

// Its doc comments are clap's `--help` text, plain text rather than Markdown (`<name>`).
#[allow(rustdoc::invalid_html_tags)]
pub mod cli;
pub mod commands;
pub mod download_bar;
pub mod draw;
pub mod interrupt;
pub mod outcome;
pub mod output_paths;
pub mod plots;
pub mod report;
pub mod run_config;
pub mod summary;
