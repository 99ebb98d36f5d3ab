//! Expiry dates: the as-you-type check ([`check_expiry`]) and the parsed value ([`Expiry`]).
//!
//! "Today" is always an argument ([`YearMonth`]); nothing here reads a clock.

use std::fmt;

use crate::text::{fold_width, is_js_space};

/// How many years ahead an expiry may lie (card-validator's default).
pub const DEFAULT_MAX_YEARS_AHEAD: u16 = 19;

/// A calendar month: "today" for expiry checks, or a card's expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct YearMonth {
    pub year: u16,
    /// 1–12.
    pub month: u8,
}

impl YearMonth {
    pub fn new(year: u16, month: u8) -> YearMonth {
        YearMonth { year, month }
    }

    /// The month `n` months later.
    pub fn plus_months(self, n: u32) -> YearMonth {
        let index = u32::from(self.year) * 12 + u32::from(self.month.saturating_sub(1)) + n;
        YearMonth { year: (index / 12) as u16, month: (index % 12) as u8 + 1 }
    }

    /// The month `n` months earlier.
    pub fn minus_months(self, n: u32) -> YearMonth {
        let index = (u32::from(self.year) * 12 + u32::from(self.month.saturating_sub(1))).saturating_sub(n);
        YearMonth { year: (index / 12) as u16, month: (index % 12) as u8 + 1 }
    }
}

/// Why an expiry is not (yet) valid. `as_str` gives the contract's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExpiryError {
    Invalid = 1,
    Expired = 2,
    Incomplete = 3,
}

impl ExpiryError {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryError::Invalid => "invalid_expiry",
            ExpiryError::Expired => "expired_card",
            ExpiryError::Incomplete => "incomplete_expiry",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ExpiryError::Invalid => "The expiry date is not a valid date.",
            ExpiryError::Expired => "The card has expired.",
            ExpiryError::Incomplete => "The expiry date is incomplete.",
        }
    }

    pub fn from_u8(v: u8) -> Option<ExpiryError> {
        [ExpiryError::Invalid, ExpiryError::Expired, ExpiryError::Incomplete]
            .into_iter()
            .find(|e| *e as u8 == v)
    }
}

impl fmt::Display for ExpiryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ExpiryError {}

/// What an expiry typed so far says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryCheck {
    /// The month and four-digit year, when the input holds a whole date (even an expired one).
    pub date: Option<YearMonth>,
    pub is_valid: bool,
    pub is_potentially_valid: bool,
    /// `None` exactly when `is_valid`.
    pub error: Option<ExpiryError>,
}

impl ExpiryCheck {
    /// 23 bits for the wasm boundary: month (bits 0–3, 0 for none), year (4–18), valid (19),
    /// potentially valid (20), error (21–22, 0 for none).
    pub fn pack(&self) -> u32 {
        let (month, year) = self.date.map_or((0, 0), |d| (u32::from(d.month), u32::from(d.year)));
        month
            | (year & 0x7fff) << 4
            | u32::from(self.is_valid) << 19
            | u32::from(self.is_potentially_valid) << 20
            | self.error.map_or(0, |e| e as u32) << 21
    }

    pub fn unpack(bits: u32) -> ExpiryCheck {
        let month = (bits & 0xf) as u8;
        ExpiryCheck {
            date: (month != 0).then_some(YearMonth { year: ((bits >> 4) & 0x7fff) as u16, month }),
            is_valid: bits & (1 << 19) != 0,
            is_potentially_valid: bits & (1 << 20) != 0,
            error: ExpiryError::from_u8(((bits >> 21) & 0x3) as u8),
        }
    }
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// parseInt of a digit string, saturating (card-validator accepts `"0012"` as month 12).
fn parse_digits(s: &str) -> u64 {
    s.bytes().fold(0u64, |acc, b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0')))
}

struct Part {
    is_valid: bool,
    is_potentially_valid: bool,
    /// Month: valid for the current year. Year: is the current year.
    current: bool,
}

/// card-validator's `expirationMonth`.
fn check_month(value: &str, today: YearMonth) -> Part {
    if value.chars().all(is_js_space) || value == "0" {
        return Part { is_valid: false, is_potentially_valid: true, current: false };
    }
    if !all_digits(value) {
        return Part { is_valid: false, is_potentially_valid: false, current: false };
    }
    let month = parse_digits(value);
    let ok = (1..=12).contains(&month);
    Part { is_valid: ok, is_potentially_valid: ok, current: ok && month >= u64::from(today.month) }
}

/// card-validator's `expirationYear`. Lengths count UTF-16 units, as JavaScript does.
fn check_year(value: &str, today: YearMonth, max_ahead: u16) -> Part {
    let no = Part { is_valid: false, is_potentially_valid: false, current: false };
    let maybe = Part { is_valid: false, is_potentially_valid: true, current: false };
    if value.chars().all(is_js_space) {
        return maybe;
    }
    if !all_digits(value) {
        return no;
    }
    let century = today.year / 100;
    match value.len() {
        0 | 1 => maybe,
        // "20" could be the start of 20xx.
        3 => Part {
            is_potentially_valid: parse_digits(value.get(..2).unwrap_or("")) == u64::from(century),
            ..no
        },
        2 if parse_digits(value) == u64::from(century) => maybe,
        2 => {
            let v = parse_digits(value);
            let now = u64::from(today.year % 100);
            let ok = v >= now && v <= now + u64::from(max_ahead);
            Part { is_valid: ok, is_potentially_valid: ok, current: v == now }
        }
        4 => {
            let v = parse_digits(value);
            let now = u64::from(today.year);
            let ok = v >= now && v <= now + u64::from(max_ahead);
            Part { is_valid: ok, is_potentially_valid: ok, current: v == now }
        }
        _ => no,
    }
}

/// What card-validator's `parseDate` makes of an input with three or more parts: their join with
/// commas, which is never a valid year. Standing in for it spares the allocation.
const SEVERAL_PARTS: &str = ",";

/// card-validator's `parseDate` (after its `MM YY` → `MM/YY` rewrite): the month and year strings.
fn split_date(s: &str, today: YearMonth) -> (&str, &str) {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let part = |r: std::ops::RangeFrom<usize>| s.get(r).unwrap_or("");
    // value.replace(/^(\d\d) (\d\d(\d\d)?)$/, "$1/$2")
    if (b.len() == 5 || b.len() == 7) && b[2] == b' ' && digits(0..2) && digits(3..b.len()) {
        return (s.get(..2).unwrap_or(""), part(3..));
    }
    // /^\d{4}-\d{1,2}$/: YYYY-M or YYYY-MM (autofill's cc-exp)
    if (6..=7).contains(&b.len()) && b[4] == b'-' && digits(0..4) && digits(5..b.len()) {
        return (part(5..), s.get(..4).unwrap_or(""));
    }
    if let Some((month, rest)) = s.split_once('/') {
        // split(/\s*\/\s*/): the separator takes the white space on both sides of each slash.
        let month = month.trim_end_matches(is_js_space);
        let year = if rest.contains('/') { SEVERAL_PARTS } else { rest.trim_start_matches(is_js_space) };
        return (month, year);
    }
    if s.chars().any(is_js_space) {
        // split(/ +/): only ASCII spaces separate.
        return match s.split_once(' ') {
            Some((month, rest)) => {
                let rest = rest.trim_start_matches(' ');
                (month, if rest.contains(' ') { SEVERAL_PARTS } else { rest })
            }
            None => (s, ""),
        };
    }
    let mut chars = s.chars();
    let first = chars.next().and_then(|c| c.to_digit(10));
    let second = chars.next().and_then(|c| c.to_digit(10));
    // JavaScript counts UTF-16 units.
    let units = s.encode_utf16().count();
    let month_chars = match first {
        Some(0) => 2,
        Some(d) if d > 1 => 1,
        Some(1) if second.is_some_and(|d| d > 2) => 1,
        Some(1) => {
            // "1" then a potentially valid year, else a two-digit month (card-validator: default 19 years)
            if check_year(part(1..), today, DEFAULT_MAX_YEARS_AHEAD).is_potentially_valid {
                1
            } else {
                2
            }
        }
        _ if units == 5 => 1,
        _ if units > 5 => 2,
        _ => 1,
    };
    let at = s.char_indices().nth(month_chars).map_or(s.len(), |(i, _)| i);
    s.split_at_checked(at).unwrap_or((s, ""))
}

/// Checks an expiry as typed: `MM/YY`, `MM / YY`, `MM/YYYY`, `M/YY`, `MMYY`, `MMYYYY`, `MM YY`,
/// `YYYY-MM`, and full-width digits. Valid: not before `today`'s month, at most `max_years_ahead`
/// years after it.
///
/// ```
/// use cardtoken_types::{check_expiry, YearMonth};
/// let today = YearMonth::new(2026, 11);
/// assert!(check_expiry("11/26", today, 19).is_valid);
/// assert_eq!(check_expiry("10/26", today, 19).error.map(|e| e.as_str()), Some("expired_card"));
/// assert_eq!(check_expiry("2030-04", today, 19).date, Some(YearMonth::new(2030, 4)));
/// ```
pub fn check_expiry(input: &str, today: YearMonth, max_years_ahead: u16) -> ExpiryCheck {
    let s = fold_width(input);
    let (month_str, year_str) = split_date(&s, today);
    let month = check_month(month_str, today);
    let year = check_year(year_str, today, max_years_ahead);

    let (is_valid, is_potentially_valid) = if month.is_valid && year.current {
        (month.current, month.current)
    } else if month.is_valid && year.is_valid {
        (true, true)
    } else {
        (false, month.is_potentially_valid && year.is_potentially_valid)
    };

    // A whole date, even an expired or far one: month 1–12 and a two- or four-digit year.
    let date = (all_digits(month_str)
        && !month_str.is_empty()
        && (1..=12).contains(&parse_digits(month_str))
        && all_digits(year_str)
        && (year_str.len() == 2 || year_str.len() == 4)
        && (is_valid || !is_potentially_valid))
        .then(|| {
            let y = parse_digits(year_str) as u16;
            let year = if year_str.len() == 2 { today.year / 100 * 100 + y } else { y };
            YearMonth { year, month: parse_digits(month_str) as u8 }
        });

    let error = if is_valid {
        None
    } else if is_potentially_valid {
        Some(ExpiryError::Incomplete)
    } else if date.is_some_and(|d| d < today) {
        Some(ExpiryError::Expired)
    } else {
        Some(ExpiryError::Invalid)
    };
    ExpiryCheck { date, is_valid, is_potentially_valid, error }
}

/// A card's expiry month: valid month, four-digit year. Whether it has passed is a separate question
/// ([`Expiry::check`]), asked with a "today".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry(YearMonth);

/// Which part of an expiry is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryField {
    Month,
    Year,
}

impl Expiry {
    /// From the API's `exp_month` (1–12) and `exp_year` (four digits, or two meaning 20YY).
    pub fn new(month: u32, year: u32) -> Result<Expiry, ExpiryField> {
        let month = u8::try_from(month).ok().filter(|m| (1..=12).contains(m)).ok_or(ExpiryField::Month)?;
        let year = match year {
            0..=99 => 2000 + year,
            1000..=9999 => year,
            _ => return Err(ExpiryField::Year),
        };
        Ok(Expiry(YearMonth { year: year as u16, month }))
    }

    pub fn month(self) -> u8 {
        self.0.month
    }

    pub fn year(self) -> u16 {
        self.0.year
    }

    /// Valid through the end of its month, and at most `max_years_ahead` years away.
    pub fn check(self, today: YearMonth, max_years_ahead: u16) -> Result<(), ExpiryError> {
        if self.0 < today {
            Err(ExpiryError::Expired)
        } else if self.0.year > today.year.saturating_add(max_years_ahead) {
            Err(ExpiryError::Invalid)
        } else {
            Ok(())
        }
    }
}
