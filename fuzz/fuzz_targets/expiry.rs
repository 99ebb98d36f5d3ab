//! Expiry dates: `check_expiry` on any string and any "today".
//!
//! Input: an optional first line `YYYY-MM` or `YYYY-MM N` (today, and the years ahead allowed; else
//! 2026-11 and 19), then the typed text (invalid UTF-8 replaced). Today's year has four digits, as a
//! clock gives until 9999; the years ahead are any `u16`.
#![no_main]

use cardtoken_types::{check_expiry, Expiry, ExpiryCheck, ExpiryError, YearMonth, DEFAULT_MAX_YEARS_AHEAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (today, max, typed) = split(data);
    let text = String::from_utf8_lossy(typed);
    let input: &str = &text;
    let c = check_expiry(input, today, max);

    assert_eq!(c.error.is_none(), c.is_valid, "error set iff invalid");
    assert!(!c.is_valid || c.is_potentially_valid, "valid but not potentially valid");
    assert_eq!(
        c.error == Some(ExpiryError::Incomplete),
        !c.is_valid && c.is_potentially_valid,
        "incomplete iff potentially valid but not yet valid"
    );
    assert_eq!(ExpiryCheck::unpack(c.pack()), c, "the packed result does not round-trip");
    if c.error == Some(ExpiryError::Expired) {
        assert!(c.date.is_some_and(|d| d < today), "expired without a date before today");
    }
    if c.is_valid {
        let Some(d) = c.date else { panic!("valid without a date") };
        assert!(d >= today, "valid but before today: {d:?} {today:?}");
        assert!(u32::from(d.year) <= u32::from(today.year) + u32::from(max), "valid beyond the window");
    }
    if let Some(d) = c.date {
        assert!((1..=12).contains(&d.month), "month {} out of 1..=12", d.month);
        assert!(c.is_valid || !c.is_potentially_valid, "a date while still incomplete");
        // The API's Expiry (exp_month, exp_year) decides the same, for four-digit years (it reads a
        // year under 100 as 20YY).
        if d.year >= 1000 {
            match Expiry::new(d.month.into(), d.year.into()) {
                Ok(e) => {
                    let api = e.check(today, max);
                    assert_eq!(api.is_ok(), c.is_valid, "Expiry::check disagrees on {d:?} {today:?} {max}");
                    assert_eq!(
                        api.err() == Some(ExpiryError::Expired),
                        c.error == Some(ExpiryError::Expired),
                        "Expiry::check disagrees on expired: {d:?} {today:?}"
                    );
                }
                Err(field) => panic!("Expiry::new refuses {field:?} of {d:?}"),
            }
        }
    }

    // Full-width digits, solidus, hyphen and the ideographic space read as their ASCII forms.
    let wide: String = input.chars().map(widen).collect();
    assert_eq!(check_expiry(&wide, today, max), c, "the full-width form checks differently");

    // A valid date is valid however it is written.
    if let (true, Some(d)) = (c.is_valid, c.date) {
        let mut forms = vec![
            format!("{:02}/{:04}", d.month, d.year),
            format!("{:02} / {:04}", d.month, d.year),
            format!("{}/{:04}", d.month, d.year),
            format!("{:02}{:04}", d.month, d.year),
            format!("{:02} {:04}", d.month, d.year),
            format!("{:04}-{:02}", d.year, d.month),
            format!("{:04}-{}", d.year, d.month),
        ];
        // `MM/YY`, unless YY could be the start of a four-digit year (card-validator). (Not `MMYY`:
        // `1210` is month 1 of a year 210… when the century is 21.)
        let two_digits = d.year / 100 == today.year / 100 && d.year % 100 != today.year / 100;
        if two_digits {
            forms.push(format!("{:02}/{:02}", d.month, d.year % 100));
            forms.push(format!("{}/{:02}", d.month, d.year % 100));
        }
        // Without a separator: a month of one digit from 2 to 9, or written with its 0.
        if two_digits && d.month < 10 {
            forms.push(format!("0{}{:02}", d.month, d.year % 100));
        }
        if (2..10).contains(&d.month) {
            forms.push(format!("{}{:04}", d.month, d.year));
            if two_digits {
                forms.push(format!("{}{:02}", d.month, d.year % 100));
            }
        }
        for form in forms {
            let again = check_expiry(&form, today, max);
            assert!(again.is_valid && again.date == Some(d), "{d:?} written as {form:?} is {again:?}");
        }
    }
});

fn widen(c: char) -> char {
    match c {
        '0'..='9' | '/' | '-' => char::from_u32(u32::from(c) - 0x20 + 0xff00).unwrap_or(c),
        ' ' => '\u{3000}',
        c => c,
    }
}

/// Today, the years ahead, and the typed bytes.
fn split(data: &[u8]) -> (YearMonth, u16, &[u8]) {
    let default = (YearMonth::new(2026, 11), DEFAULT_MAX_YEARS_AHEAD, data);
    let Some(end) = data.iter().position(|&b| b == b'\n') else { return default };
    let Ok(header) = std::str::from_utf8(&data[..end]) else { return default };
    let (date, max) = header.split_once(' ').unwrap_or((header, "19"));
    let Some((year, month)) = date.split_once('-') else { return default };
    let (Ok(year), Ok(month), Ok(max)) = (year.parse::<u16>(), month.parse::<u8>(), max.parse::<u16>())
    else {
        return default;
    };
    if !(1000..=9999).contains(&year) || !(1..=12).contains(&month) {
        return default;
    }
    (YearMonth::new(year, month), max, &data[end + 1..])
}
