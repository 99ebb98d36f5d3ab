//! Amounts, times and dates as the dashboard shows and reads them.

use cardtoken_types::Currency;

/// A currency's decimals (2 when unknown).
pub fn exponent(currency: &str) -> u8 {
    Currency::parse(currency).map_or(2, |c| c.exponent())
}

/// `1,000 JPY`, `10.50 USD`.
pub fn amount(minor: u64, currency: &str) -> String {
    let e = u32::from(exponent(currency));
    let scale = 10u64.pow(e);
    let (whole, frac) = (minor / scale, minor % scale);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let code = currency.to_ascii_uppercase();
    if e == 0 {
        format!("{grouped} {code}")
    } else {
        format!("{grouped}.{frac:0width$} {code}", width = e as usize)
    }
}

/// An amount typed in the currency's unit (`300`, `12.5`, `1,000`) in its minor unit; `None` when it is
/// not a positive amount with at most the currency's decimals.
pub fn parse_amount(text: &str, currency: &str) -> Option<u64> {
    let e = usize::from(exponent(currency));
    let cleaned: String = text.trim().chars().filter(|c| *c != ',' && *c != '_').collect();
    let (whole, frac) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) || frac.len() > e {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<e$}").parse().ok()? };
    let minor = whole.checked_mul(10u64.checked_pow(e as u32)?)?.checked_add(frac)?;
    (minor > 0).then_some(minor)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-11-24 12:00:00 UTC`
pub fn time(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", s / 3600, s % 3600 / 60, s % 60)
}

/// `2026-11-24T12:00:00Z`, for `<time datetime>`.
pub fn iso(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

/// `2026-11-24` (an `<input type=date>`'s value) as the Unix time of that day's start, UTC.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // 2026-02-31 is not a date.
    (civil_from_days(days) == (y, m, d)).then_some(days * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_shown_and_read_in_the_currency_unit() {
        assert_eq!(amount(1_000, "jpy"), "1,000 JPY");
        assert_eq!(amount(1_234_567, "usd"), "12,345.67 USD");
        assert_eq!(amount(5, "usd"), "0.05 USD");
        assert_eq!(amount(1_500, "kwd"), "1.500 KWD");
        assert_eq!(parse_amount("300", "jpy"), Some(300));
        assert_eq!(parse_amount(" 1,000 ", "jpy"), Some(1_000));
        assert_eq!(parse_amount("12.5", "usd"), Some(1_250));
        assert_eq!(parse_amount(".05", "usd"), Some(5));
        for bad in ["", "0", "-1", "1.5", "abc", "1e3", "."] {
            assert_eq!(parse_amount(bad, "jpy"), None, "{bad}");
        }
        assert_eq!(parse_amount("1.234", "usd"), None);
    }

    #[test]
    fn times_and_dates_are_utc() {
        assert_eq!(time(1_795_521_600), "2026-11-24 12:00:00 UTC");
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_date("2026-11-24"), Some(1_795_478_400));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        for bad in ["2026-02-31", "2026-13-01", "26-11-24", "", "2026-1-1"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
