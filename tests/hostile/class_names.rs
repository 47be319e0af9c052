//! A class name is printed by `predict` and `eval`, one per line and field: a name holding a
//! newline or an escape could forge output lines or colour a terminal, so it is refused where
//! it enters, naming the class with the character shown escaped.

use crate::corpus::{error_naming, quick, run};

#[test]
fn a_class_name_with_a_control_character_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // A text label with an escape sequence and one with a (quoted) newline.
    for (file, label) in [("esc.csv", "\u{1b}[31mred"), ("nl.csv", "\"two\nlines\"")] {
        let mut text = String::from("a,b,label\n");
        for i in 0..30 {
            let class = if i % 2 == 0 { label } else { "plain" };
            text.push_str(&format!("{i},{},{class}\n", i * 3 % 7));
        }
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        let out = run(&quick(path.to_str().unwrap(), &["--epochs", "1"]), &[]);
        let line = error_naming(&out, file, &["control character", "rename it"]);
        assert!(!line.contains('\u{1b}'), "{line:?}");
    }
}
