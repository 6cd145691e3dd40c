//! Numbers as every report prints them: one format for each kind of number, so the terminal,
//! the markdown comment and the gate's messages never print the same value two ways.

/// A number from a file, for an error that says what was found: as written for everyday
/// values, in exponent form when huge or tiny (1e308 is not three hundred digits).
pub fn format_found(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-6..1e15).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A share in [0, 1] as a percentage with one decimal: `0.714` → `71.4%`.
pub fn format_percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A confidence level without needless decimals: `0.95` → `95%`, `0.975` → `97.5%`.
pub fn format_confidence(confidence: f64) -> String {
    let percent = format!("{:.2}", confidence * 100.0);
    let trimmed = percent.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed}%")
}

/// Dollars with two to four decimals, so small per-run costs stay visible: `2` → `$2.00`,
/// `0.0012` → `$0.0012`, `2.004` → `$2.004`; amounts below $0.0001 show as `<$0.0001`.
pub fn format_usd(usd: f64) -> String {
    if usd > 0.0 && usd < 0.000_05 {
        return "<$0.0001".to_owned();
    }
    if usd.abs() >= 100.0 {
        return format!("${usd:.2}");
    }
    let text = format!("{usd:.4}");
    let trimmed = text.trim_end_matches('0');
    let decimals = trimmed.split_once('.').map_or(0, |(_, d)| d.len());
    if decimals >= 2 {
        format!("${trimmed}")
    } else {
        format!("${usd:.2}")
    }
}

/// A count and its noun, singular for one: `1 model`, `2 models`, `1,000 cases`.
pub fn count_of(n: u64, singular: &str, plural: &str) -> String {
    format!(
        "{} {}",
        format_count(n),
        if n == 1 { singular } else { plural }
    )
}

/// An integer with thousands separators: `1234567` → `1,234,567`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A difference of shares in percentage points, one decimal, with a true minus sign:
/// `-0.0912` → `−9.1`.
pub fn format_points(delta: f64) -> String {
    let text = format!("{:.1}", delta * 100.0);
    match text.strip_prefix('-') {
        Some("0.0") => "0.0".to_owned(),
        Some(rest) => format!("\u{2212}{rest}"),
        None => text,
    }
}

/// A difference of shares in percentage points with an explicit sign: `+1.5pp`, `−25.0pp`.
pub fn format_signed_points(delta: f64) -> String {
    let points = delta * 100.0;
    if points.abs() < 0.05 {
        return "±0.0pp".to_owned();
    }
    let sign = if points > 0.0 { '+' } else { '−' };
    format!("{sign}{:.1}pp", points.abs())
}

/// p-values for readers: three decimals, `< 0.001` below that.
pub fn format_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_owned()
    } else {
        format!("{p:.3}")
    }
}

/// `p = 0.031`, or `p < 0.001`.
pub fn p_clause(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_owned()
    } else {
        format!("p = {}", format_p(p))
    }
}

/// A duration as a person writes it, largest units first: `1h30m`, `45s`, `250ms`, `0s`.
pub fn format_duration(d: std::time::Duration) -> String {
    let total = d.as_secs();
    if total == 0 {
        return match d.subsec_millis() {
            0 => "0s".to_owned(),
            ms => format!("{ms}ms"),
        };
    }
    let parts = [
        ("d", total / 86_400),
        ("h", total % 86_400 / 3_600),
        ("m", total % 3_600 / 60),
        ("s", total % 60),
    ];
    parts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(unit, n)| format!("{n}{unit}"))
        .collect()
}

/// Reads a duration written as a person writes it: numbers with units `ms`, `s`, `m`, `h`, `d`,
/// one after the other (`30m`, `2h`, `1h30m`, `90s`, `1.5h`), or a bare `0`. At most 30 days.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || {
        format!("expected a duration such as 30m, 2h or 1h30m (units ms, s, m, h, d), not `{text}`")
    };
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let mut rest = trimmed;
    let mut seconds = 0.0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match rest[..unit_len].trim() {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3_600.0,
            "d" => 86_400.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        seconds += number * unit;
    }
    const MAX: f64 = 30.0 * 86_400.0;
    if !seconds.is_finite() || seconds > MAX {
        return Err(format!("`{text}` is more than 30 days"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_and_written_as_people_write_them() {
        use std::time::Duration;
        for (text, secs) in [
            ("30m", 1800.0),
            ("2h", 7200.0),
            ("1h30m", 5400.0),
            ("90s", 90.0),
            ("1.5h", 5400.0),
            ("250ms", 0.25),
            ("0", 0.0),
            ("0s", 0.0),
            ("1d", 86_400.0),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs_f64(secs)),
                "{text}"
            );
        }
        for bad in ["", "30", "m", "3x", "-1h", "1h-", "31d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 61)), "1d1m1s");
        assert_eq!(format_duration(Duration::from_secs(0)), "0s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(1800)), "30m");
    }

    #[test]
    fn found_numbers_are_short() {
        assert_eq!(format_found(2.5), "2.5");
        assert_eq!(format_found(-1.0), "-1");
        assert_eq!(format_found(1e308), "1e308");
        assert_eq!(format_found(1e-9), "1e-9");
        assert_eq!(format_found(f64::NAN), "NaN");
    }

    #[test]
    fn numbers_format_for_readers() {
        assert_eq!(format_percent(0.714_28), "71.4%");
        assert_eq!(format_confidence(0.95), "95%");
        assert_eq!(format_confidence(0.975), "97.5%");
        assert_eq!(format_usd(2.0), "$2.00");
        assert_eq!(format_usd(0.0012), "$0.0012");
        assert_eq!(format_usd(2.004), "$2.004");
        assert_eq!(format_usd(0.0), "$0.00");
        assert_eq!(format_usd(0.000_01), "<$0.0001");
        assert_eq!(format_usd(1234.5), "$1234.50");
        assert_eq!(format_count(1_234_567), "1,234,567");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_points(-0.0912), "\u{2212}9.1");
        assert_eq!(format_points(0.034), "3.4");
        assert_eq!(format_points(-0.0001), "0.0");
        assert_eq!(format_signed_points(-0.25), "−25.0pp");
        assert_eq!(format_signed_points(0.015), "+1.5pp");
        assert_eq!(format_p(0.0004), "< 0.001");
        assert_eq!(format_p(0.0312), "0.031");
        assert_eq!(p_clause(0.0004), "p < 0.001");
        assert_eq!(p_clause(0.0634), "p = 0.063");
    }
}
