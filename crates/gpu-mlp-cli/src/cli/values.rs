//! Parsers of single flag values shared by several commands: layer widths, rates, fractions.

/// Hidden layer widths (a newtype so clap treats the list as one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenLayers(pub Vec<usize>);

pub(super) fn parse_hidden(s: &str) -> Result<HiddenLayers, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("none") {
        return Ok(HiddenLayers(Vec::new()));
    }
    // A blank value is more often an empty shell variable than a wish for no hidden layer.
    if s.is_empty() {
        return Err(
            "the value is blank; give the widths, e.g. 128 or 128,64, or none for no \
                    hidden layer"
                .to_string(),
        );
    }
    s.split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(0) => Err("every hidden layer needs at least 1 unit (got 0)".to_string()),
            Ok(w) => Ok(w),
            Err(_) => Err(format!(
                "'{part}' is not a layer width; use e.g. 128 or 128,64 or none"
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(HiddenLayers)
}

/// The parser of a whole-number flag (`--epochs`, `--seed`) taking `min..=max`. It says what
/// is wanted when the text is not such a number: u64's own parser answers `-3` or `1.5` with
/// "invalid digit found in string", and its range check with `0 is not in 1..18446744073709551615`.
pub fn whole_number(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected {}; got '{s}'", whole_numbers(min, max))),
    }
}

/// Words for the whole numbers `min..=max`.
fn whole_numbers(min: u64, max: u64) -> String {
    match (min, max) {
        (1, u64::MAX) => "a positive whole number, e.g. 5".to_string(),
        (min, u64::MAX) => format!("a whole number >= {min}"),
        (min, max) => format!("a whole number from {min} to {max}"),
    }
}

pub(super) fn parse_rate(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(r) if (0.0..1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected a rate in [0, 1), e.g. 0.2; got '{s}'{}",
            f32_rounding(s)
        )),
    }
}

/// Why a value in range as written is not once read as an f32 (the engines' type), if that
/// is why: `1e-50` reads as 0 and `0.9999999999` as 1.
fn f32_rounding(s: &str) -> String {
    match (s.parse::<f64>(), s.parse::<f32>()) {
        (Ok(wide), Ok(narrow))
            if wide.is_finite()
                && ((narrow == 0.0 && wide != 0.0)
                    || (narrow.abs() == 1.0 && wide.abs() != 1.0)
                    || narrow.is_infinite()) =>
        {
            format!(", which a 32-bit float reads as {narrow}")
        }
        _ => String::new(),
    }
}

pub(super) fn parse_split(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected a fraction in [0, 1), e.g. 0.1; got '{s}'"
        )),
    }
}

pub(super) fn parse_non_negative_f32(s: &str) -> Result<f32, String> {
    parse_non_negative(s).map(|v| v as f32)
}

pub(super) fn parse_non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("expected a number >= 0, e.g. 0.001; got '{s}'")),
    }
}

pub(super) fn parse_positive(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!(
            "expected a positive number, e.g. 0.001; got '{s}'{}",
            f32_rounding(s)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_round_out_of_range_say_so() {
        let tiny = parse_positive("1e-50").unwrap_err();
        assert!(
            tiny.ends_with("got '1e-50', which a 32-bit float reads as 0"),
            "{tiny}"
        );
        let near_one = parse_rate("0.9999999999").unwrap_err();
        assert!(near_one.ends_with("reads as 1"), "{near_one}");
        // Out of range as written: nothing about rounding.
        assert!(parse_positive("-0.001")
            .unwrap_err()
            .ends_with("got '-0.001'"));
        assert!(parse_rate("1.5").unwrap_err().ends_with("got '1.5'"));
        assert_eq!(parse_positive("0.001"), Ok(0.001));
    }
}
