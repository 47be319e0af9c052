//! A text source's bytes under its bounds: no record (a row; quoted cells may span lines)
//! longer than the line limit and no more text than the text limit (see
//! [`crate::fsio::budget`]), so a gzip bomb of NUL bytes, one 3 GB cell or `/dev/zero` stop
//! with the line they reached instead of growing one record until the allocator aborts.

use crate::fsio::budget::{self, Limit};
use std::io::{self, Read};

/// Why the text stopped: the bound it hit, said with the line it was at.
#[derive(Debug)]
pub struct OutOfBounds(pub String);

impl std::fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutOfBounds {}

/// The message of `e` when it is a bound this reader hit.
pub fn out_of_bounds(e: &io::Error) -> Option<String> {
    e.get_ref()?
        .downcast_ref::<OutOfBounds>()
        .map(|o| o.0.clone())
}

/// `inner`'s bytes, counted as they pass: their total, the current record's length (a newline
/// inside double quotes does not end a record, as in CSV) and the line it started on.
pub struct BoundedText<R> {
    inner: R,
    line_limit: Limit,
    text_limit: Limit,
    total: u64,
    record: u64,
    record_line: u64,
    line: u64,
    quoted: bool,
}

impl<R: Read> BoundedText<R> {
    pub fn new(inner: R) -> Self {
        Self::with_limits(inner, budget::line_limit(), budget::text_limit())
    }

    fn with_limits(inner: R, line_limit: Limit, text_limit: Limit) -> Self {
        Self {
            inner,
            line_limit,
            text_limit,
            total: 0,
            record: 0,
            record_line: 1,
            line: 1,
            quoted: false,
        }
    }

    /// Counts `chunk` byte by byte, tracking double quotes (a quoted newline is inside a record).
    fn count_quoted(&mut self, chunk: &[u8]) {
        for &byte in chunk {
            match byte {
                b'"' => self.quoted = !self.quoted,
                b'\n' => {
                    self.line += 1;
                    if !self.quoted {
                        self.record = 0;
                        self.record_line = self.line;
                        continue;
                    }
                }
                _ => {}
            }
            self.record += 1;
        }
    }

    fn stop(&self, problem: String) -> io::Error {
        io::Error::other(OutOfBounds(problem))
    }
}

impl<R: Read> Read for BoundedText<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        if self.total > self.text_limit.bytes {
            return Err(self.stop(format!(
                "line {}: more than {} of text, the most {} allows (see docs/limits.md)",
                self.line,
                budget::size_text(self.text_limit.bytes),
                self.text_limit.env
            )));
        }
        let chunk = &buf[..n];
        if !self.quoted && !chunk.contains(&b'"') {
            // The common case, no quotes: count newlines in one vectorisable pass instead of
            // stepping through every byte (the loop below costs 10-20% of a CSV load).
            match chunk.iter().rposition(|&b| b == b'\n') {
                None => self.record += n as u64,
                Some(last) => {
                    self.line += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
                    self.record = (n - 1 - last) as u64;
                    self.record_line = self.line;
                }
            }
        } else {
            self.count_quoted(chunk);
        }
        if self.record > self.line_limit.bytes {
            return Err(self.stop(format!(
                "line {}: a row longer than {}, the most {} allows (is this a text table? see \
                 docs/limits.md)",
                self.record_line,
                budget::size_text(self.line_limit.bytes),
                self.line_limit.env
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8], line: u64, total: u64) -> Result<Vec<u8>, String> {
        let limit = |bytes| Limit {
            bytes,
            env: "TEST_LIMIT",
            from_memory: false,
        };
        let mut out = Vec::new();
        // One byte per read, so a bound is seen where it is crossed.
        let mut r = BoundedText::with_limits(text, limit(line), limit(total));
        let mut byte = [0u8];
        loop {
            match r.read(&mut byte) {
                Ok(0) => return Ok(out),
                Ok(_) => out.push(byte[0]),
                Err(e) => return Err(out_of_bounds(&e).expect("a bound")),
            }
        }
    }

    #[test]
    fn records_and_text_are_bounded_with_their_line() {
        assert!(read_all(b"ab,c\nde,f\n", 4, 100).is_ok());
        let err = read_all(b"ab,c\nde,fg\n", 4, 100).unwrap_err();
        assert!(
            err.starts_with("line 2: a row longer than 4 bytes"),
            "{err}"
        );
        // A quoted newline continues the record that began on line 1.
        let err = read_all(b"a,\"b\nc\nd\"\n", 5, 100).unwrap_err();
        assert!(err.starts_with("line 1:"), "{err}");
        let err = read_all(b"a\nb\nc\n", 4, 5).unwrap_err();
        assert!(err.contains("more than 5 bytes of text") && err.contains("TEST_LIMIT"));
    }

    #[test]
    fn a_whole_buffer_counts_as_byte_by_byte_does() {
        let limit = |bytes| Limit {
            bytes,
            env: "TEST_LIMIT",
            from_memory: false,
        };
        let counts = |r: &BoundedText<&[u8]>| (r.line, r.record, r.record_line, r.quoted);
        for text in [
            &b"ab,c\nde,f\ngh"[..],
            b"abc",
            b"a\n\n\nbc\n",
            b"a,\"b\nc\",d\ne",
        ] {
            let mut whole = BoundedText::with_limits(text, limit(100), limit(100));
            let mut buf = [0u8; 64];
            while whole.read(&mut buf).unwrap() > 0 {}
            let mut bytes = BoundedText::with_limits(text, limit(100), limit(100));
            let mut one = [0u8];
            while bytes.read(&mut one).unwrap() > 0 {}
            assert_eq!(
                counts(&whole),
                counts(&bytes),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
