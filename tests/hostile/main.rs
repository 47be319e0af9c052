//! What a hostile or careless user can hand to gpu-mlp: odd files, pictures that are not what
//! they say, settings that make training explode. Each is one clear error or a plain note.

mod files;
mod predict;
mod training;
