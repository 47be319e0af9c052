//! The one path for allocations sized by input: a file's claim (a header's shape, an entry's
//! size) is admitted against a limit before anything that size is allocated, and a stream's
//! bytes are taken only as they arrive. Readers call this module rather than sizing buffers
//! themselves, so a new reader cannot forget the bound.
//!
//! The limits (see `docs/limits.md`), each overridable by an environment variable:
//! - input bytes ([`INPUT_ENV`]): the most one input may make the process hold; by default
//!   the memory this process may still take ([`super::memory::available_bytes`]).
//! - line bytes ([`LINE_ENV`]): the longest record of a text source (64 MiB by default).
//! - text bytes ([`TEXT_ENV`]): the most text a source may inflate to; 4× the input limit by
//!   default (a value takes at least two bytes of text and one of memory, so more text than
//!   that cannot be data this process could hold).

use std::io::{self, Read};

/// The most bytes one input may make the process hold.
pub const INPUT_ENV: &str = "GPU_MLP_MAX_INPUT_BYTES";
/// The longest record (line) of a CSV/TSV file, in bytes.
pub const LINE_ENV: &str = "GPU_MLP_MAX_LINE_BYTES";
/// The most text a CSV/TSV file may hold after gunzipping, in bytes.
pub const TEXT_ENV: &str = "GPU_MLP_MAX_TEXT_BYTES";

/// The line limit without [`LINE_ENV`]: far above any real table's row (a million columns of
/// `0.123456,` is 9 MB), far below what growing one record could take.
pub const DEFAULT_LINE_BYTES: u64 = 64 << 20;
/// Bytes read per step where a stream's bytes are taken as they arrive.
const READ_STEP: u64 = 4 << 20;

/// A size past its limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exceeded {
    /// What was too large, e.g. "its header claims 4294967296 bytes".
    pub what: String,
    pub limit: u64,
    /// The variable that sets the limit.
    pub env: &'static str,
    /// Whether the limit is the memory this process may take (no variable set).
    pub from_memory: bool,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limit = super::memory::gib(self.limit);
        if self.from_memory {
            write!(
                f,
                "{}, more than the {limit} of memory this process may still take (set {} to \
                 another limit in bytes; see docs/limits.md)",
                self.what, self.env
            )
        } else {
            write!(
                f,
                "{}, more than the {} {} allows (see docs/limits.md)",
                self.what,
                size_text(self.limit),
                self.env
            )
        }
    }
}

impl std::error::Error for Exceeded {}

/// A limit: its value, its variable and whether memory set it.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub bytes: u64,
    /// The variable that sets it.
    pub env: &'static str,
    /// Whether the limit is the memory this process may take (no variable set).
    pub from_memory: bool,
}

impl Limit {
    /// Fails with `what` when `size` is past the limit.
    pub fn admit(&self, size: u64, what: impl FnOnce() -> String) -> Result<(), Exceeded> {
        if size <= self.bytes {
            return Ok(());
        }
        Err(self.exceeded(what()))
    }

    /// The error of `what` being past this limit.
    pub fn exceeded(&self, what: String) -> Exceeded {
        Exceeded {
            what,
            limit: self.bytes,
            env: self.env,
            from_memory: self.from_memory,
        }
    }
}

/// `bytes` for a message: `512 bytes`, `64.0 MiB`, `4.0 GiB`.
pub fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => super::memory::gib(b),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{b} bytes"),
    }
}

/// `env`'s value in bytes, if it is set to one.
fn from_env(env: &str) -> Option<u64> {
    std::env::var(env).ok()?.trim().parse().ok()
}

/// The most one input may make the process hold.
pub fn input_limit() -> Limit {
    match from_env(INPUT_ENV) {
        Some(bytes) => Limit {
            bytes,
            env: INPUT_ENV,
            from_memory: false,
        },
        None => Limit {
            bytes: super::memory::available_bytes().unwrap_or(super::memory::FALLBACK_LIMIT),
            env: INPUT_ENV,
            from_memory: true,
        },
    }
}

/// The longest record of a text source.
pub fn line_limit() -> Limit {
    Limit {
        bytes: from_env(LINE_ENV).unwrap_or(DEFAULT_LINE_BYTES),
        env: LINE_ENV,
        from_memory: false,
    }
}

/// The most text a source may inflate to.
pub fn text_limit() -> Limit {
    Limit {
        bytes: from_env(TEXT_ENV).unwrap_or_else(|| input_limit().bytes.saturating_mul(4)),
        env: TEXT_ENV,
        from_memory: false,
    }
}

/// Why [`read_claimed`] stopped.
#[derive(Debug)]
pub enum ClaimError {
    /// The claim is past the input limit; nothing was read.
    TooLarge(Exceeded),
    /// The stream failed.
    Io(io::Error),
    /// The stream ended after `found` of the claimed bytes.
    Short { found: u64 },
    /// The stream holds more than the claim (at least one byte more).
    Long,
}

/// Reads exactly the `claimed` bytes `reader` should hold, appended to `data`, after admitting
/// `data.len() + claimed` against the input limit (`what` names the claim in the error). The
/// buffer grows with the bytes that arrive, never to the claim up front; one byte more than
/// claimed is an error (the claim lied), and nothing past it is read.
pub fn read_claimed(
    reader: &mut dyn Read,
    data: &mut Vec<u8>,
    claimed: u64,
    what: impl FnOnce() -> String,
) -> Result<(), ClaimError> {
    let start = data.len() as u64;
    input_limit()
        .admit(start.saturating_add(claimed), what)
        .map_err(ClaimError::TooLarge)?;
    let end = start + claimed;
    loop {
        let have = data.len() as u64;
        // One byte past the claim, to tell a stream that holds more.
        let want = (end + 1 - have).min(READ_STEP);
        let got = reader
            .take(want)
            .read_to_end(data)
            .map_err(ClaimError::Io)?;
        let have = data.len() as u64;
        if have > end {
            data.truncate(end as usize);
            return Err(ClaimError::Long);
        }
        if got == 0 {
            return if have == end {
                Ok(())
            } else {
                Err(ClaimError::Short {
                    found: have - start,
                })
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(bytes: u64) -> Limit {
        Limit {
            bytes,
            env: INPUT_ENV,
            from_memory: false,
        }
    }

    #[test]
    fn a_claim_past_the_limit_names_it_and_its_variable() {
        assert!(limit(10).admit(10, String::new).is_ok());
        let err = limit(10).admit(11, || "the header claims 11 bytes".into());
        let text = err.unwrap_err().to_string();
        assert!(text.starts_with("the header claims 11 bytes, more than the 10 bytes "));
        assert!(text.contains(INPUT_ENV), "{text}");
    }

    #[test]
    fn claimed_bytes_are_taken_only_as_they_arrive() {
        let mut data = b"hd".to_vec();
        read_claimed(&mut &b"abc"[..], &mut data, 3, String::new).unwrap();
        assert_eq!(data, b"hdabc");
        // A 4 GiB claim on a 3-byte stream reads 3 bytes, allocating no more than they need.
        let mut data = Vec::new();
        match read_claimed(
            &mut &b"abc"[..],
            &mut data,
            u64::from(u32::MAX),
            String::new,
        ) {
            Err(ClaimError::Short { found: 3 }) | Err(ClaimError::TooLarge(_)) => {}
            other => panic!("{other:?}"),
        }
        assert!(data.capacity() < 1 << 20);
        let mut data = Vec::new();
        let long = read_claimed(&mut &b"abcd"[..], &mut data, 3, String::new);
        assert!(matches!(long, Err(ClaimError::Long)), "{long:?}");
    }
}
