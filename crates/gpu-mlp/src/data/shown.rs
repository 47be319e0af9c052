//! Bytes from a user's file as they appear in an error line: control characters (NUL, ESC and
//! so the ANSI/OSC sequences that would restyle or retitle a terminal, newlines) and bidi
//! overrides escaped, invalid UTF-8 replaced, and at most a few dozen characters, so a 3 GB
//! cell or a NUL run is one readable line.

/// Characters of a cell shown before the rest is cut.
pub const CELL_CHARS: usize = 48;

/// `bytes` for an error line: at most `CELL_CHARS` characters, each one printable.
pub fn shown(bytes: &[u8]) -> String {
    shown_up_to(bytes, CELL_CHARS)
}

/// `bytes` for an error line: at most `max_chars` characters, each one printable.
pub fn shown_up_to(bytes: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push_str(&format!("... ({} bytes in all)", bytes.len()));
            break;
        }
        let hidden =
            c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if hidden {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(shown(b"3.5x"), "3.5x");
        assert_eq!(
            shown(b"a\0b\x1b]0;pwned\x07"),
            "a\\u{0}b\\u{1b}]0;pwned\\u{7}"
        );
        assert_eq!(shown(b"\xffz"), "\u{fffd}z");
        let long = shown(&[b'1'; 3000]);
        assert!(long.starts_with(&"1".repeat(CELL_CHARS)), "{long}");
        assert!(long.ends_with("... (3000 bytes in all)"), "{long}");
        assert_eq!(shown("\u{202e}x".as_bytes()), "\\u{202e}x");
    }
}
