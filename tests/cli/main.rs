//! The command line end to end on the CPU engine, as a user runs the built binary: help and flag
//! errors, training on MNIST, saving and using models, one's own data and models.

mod flags;
mod models;
mod own_data;
mod own_data_cli;
mod own_data_errors;
mod own_data_kinds;
mod own_models;
mod own_models_commands;
mod train_cpu;
