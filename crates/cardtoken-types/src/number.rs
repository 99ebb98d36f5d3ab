//! Card numbers: the as-you-type check ([`check_number`]), the parsed secret ([`CardNumber`]) and
//! display formatting ([`format_number`]).

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroize;

use crate::brand::{Brand, BrandSet, BRANDS};
use crate::text::{self, Char};

/// The longest card number any brand issues.
pub const MAX_DIGITS: usize = 19;

/// Why a number is not (yet) valid. `as_str` gives the contract's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum NumberError {
    /// A character that is not a digit, space or dash; or a complete number failing the Luhn check.
    Invalid = 1,
    /// More digits are needed.
    Incomplete = 2,
    /// No brand issues numbers starting with these digits.
    UnknownBrand = 3,
    /// Longer than the brand allows.
    TooLong = 4,
}

impl NumberError {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberError::Invalid => "invalid_number",
            NumberError::Incomplete => "incomplete_number",
            NumberError::UnknownBrand => "unknown_brand",
            NumberError::TooLong => "too_long",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            NumberError::Invalid => "The card number is not a valid card number.",
            NumberError::Incomplete => "The card number is incomplete.",
            NumberError::UnknownBrand => "The card number is not from a supported card brand.",
            NumberError::TooLong => "The card number is too long.",
        }
    }

    pub fn from_u8(v: u8) -> Option<NumberError> {
        [NumberError::Invalid, NumberError::Incomplete, NumberError::UnknownBrand, NumberError::TooLong]
            .into_iter()
            .find(|e| *e as u8 == v)
    }
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for NumberError {}

/// Options of [`check_number`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NumberOptions {
    /// Luhn-check UnionPay numbers too (many UnionPay cards do not pass it, so by default they are not).
    pub luhn_union_pay: bool,
}

/// What the digits typed so far say. Holds no digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberCheck {
    /// The brand that fits alone, or the strongest match; `None` while it is undecided.
    pub brand: Option<Brand>,
    /// Every brand the digits so far still fit.
    pub candidates: BrandSet,
    pub is_valid: bool,
    /// Typing more digits can still make it valid.
    pub is_potentially_valid: bool,
    /// `None` exactly when `is_valid`.
    pub error: Option<NumberError>,
}

impl NumberCheck {
    fn invalid(error: NumberError) -> Self {
        NumberCheck {
            brand: None,
            candidates: BrandSet::default(),
            is_valid: false,
            is_potentially_valid: false,
            error: Some(error),
        }
    }

    /// The brands whose lengths, gaps and CVC lengths apply: the brand, or every candidate.
    pub fn relevant_brands(&self) -> BrandSet {
        match self.brand {
            Some(b) => {
                let mut set = BrandSet::default();
                set.insert(b);
                set
            }
            None => self.candidates,
        }
    }

    /// Packs the check into 24 bits for the wasm boundary: candidates (bits 0–14), brand index + 1
    /// (15–18, 0 for none), valid (19), potentially valid (20), error (21–23, 0 for none).
    pub fn pack(&self) -> u32 {
        let brand = self.brand.map_or(0, |b| b as u32 + 1);
        u32::from(self.candidates.0)
            | brand << 15
            | u32::from(self.is_valid) << 19
            | u32::from(self.is_potentially_valid) << 20
            | self.error.map_or(0, |e| e as u32) << 21
    }

    pub fn unpack(bits: u32) -> NumberCheck {
        NumberCheck {
            candidates: BrandSet((bits & 0x7fff) as u16),
            brand: ((bits >> 15) & 0xf).checked_sub(1).and_then(|i| Brand::from_index(i as usize)),
            is_valid: bits & (1 << 19) != 0,
            is_potentially_valid: bits & (1 << 20) != 0,
            error: NumberError::from_u8(((bits >> 21) & 0x7) as u8),
        }
    }
}

/// The digits of a number as typed, with spaces and dashes dropped and full-width digits folded.
/// Keeps at most [`MAX_DIGITS`] + 1 digits (enough to know a number is too long) and the count.
struct Digits {
    buf: [u8; MAX_DIGITS + 1],
    count: usize,
}

impl Digits {
    /// `None` when the input holds a character other than a digit, a space or a dash.
    fn read(input: &str) -> Option<Digits> {
        let mut digits = Digits { buf: [0; MAX_DIGITS + 1], count: 0 };
        for c in input.chars() {
            match text::classify(c) {
                Char::Digit(d) => {
                    if let Some(slot) = digits.buf.get_mut(digits.count) {
                        *slot = b'0' + d;
                    }
                    digits.count += 1;
                }
                Char::Space | Char::Dash => {}
                Char::Other => return None,
            }
        }
        Some(digits)
    }

    fn kept(&self) -> &[u8] {
        &self.buf[..self.count.min(self.buf.len())]
    }

    /// `prefixes[k]` = the value of the first `k` digits, for k up to 8 (the longest IIN pattern).
    fn prefixes(&self) -> [u32; 9] {
        let mut out = [0u32; 9];
        let mut acc = 0u32;
        for (k, d) in self.kept().iter().take(8).enumerate() {
            acc = acc * 10 + u32::from(d - b'0');
            out[k + 1] = acc;
        }
        out
    }

    fn luhn(&self) -> bool {
        // Only called with at most MAX_DIGITS digits, all ASCII, so this is always Ok.
        std::str::from_utf8(self.kept()).is_ok_and(luhn::valid)
    }
}

/// Brand matching as credit-card-type does it: every brand whose patterns the digits fit (first
/// matching pattern decides its strength), and the best match when every candidate has a strength.
fn match_brands(digits: &Digits) -> (BrandSet, Option<Brand>) {
    let n = digits.count;
    if n == 0 {
        return (BrandSet::ALL, None);
    }
    let prefixes = digits.prefixes();
    let first = digits.buf[0] - b'0';
    let mut candidates = BrandSet::default();
    let mut strongest: Option<(Brand, u8)> = None;
    let mut all_strong = true;
    for info in &BRANDS {
        if info.first_digits & (1 << first) == 0 {
            continue;
        }
        let Some(pat) = info.patterns.iter().find(|p| p.matches(&prefixes, n)) else {
            continue;
        };
        candidates.insert(info.brand);
        if n >= pat.len as usize {
            if strongest.is_none_or(|(_, s)| s < pat.len) {
                strongest = Some((info.brand, pat.len));
            }
        } else {
            all_strong = false;
        }
    }
    let brand = match candidates.len() {
        1 => candidates.iter().next(),
        _ if all_strong => strongest.map(|(b, _)| b),
        _ => None,
    };
    (candidates, brand)
}

/// Checks a card number as typed. Never fails: every string gets a result.
///
/// ```
/// use cardtoken_types::{check_number, Brand, NumberOptions};
/// let c = check_number("4242 4242 4242 4242", NumberOptions::default());
/// assert_eq!(c.brand, Some(Brand::Visa));
/// assert!(c.is_valid);
/// let c = check_number("4242 4242 4242 4241", NumberOptions::default());
/// assert_eq!(c.error.map(|e| e.as_str()), Some("invalid_number"));
/// ```
pub fn check_number(input: &str, options: NumberOptions) -> NumberCheck {
    let Some(digits) = Digits::read(input) else {
        return NumberCheck::invalid(NumberError::Invalid);
    };
    let (candidates, brand) = match_brands(&digits);
    if candidates.is_empty() {
        return NumberCheck::invalid(NumberError::UnknownBrand);
    }
    let Some(brand) = brand else {
        return NumberCheck {
            brand: None,
            candidates,
            is_valid: false,
            is_potentially_valid: true,
            error: Some(NumberError::Incomplete),
        };
    };
    let n = digits.count;
    let info = brand.info();
    let max = usize::from(brand.max_length());
    let full_length = info.lengths.iter().any(|&l| usize::from(l) == n);
    let (is_valid, is_potentially_valid) = if full_length {
        let luhn_ok = (brand == Brand::UnionPay && !options.luhn_union_pay) || digits.luhn();
        (luhn_ok, n < max || luhn_ok)
    } else {
        (false, n < max)
    };
    let error = if is_valid {
        None
    } else if n > max {
        Some(NumberError::TooLong)
    } else if full_length {
        Some(NumberError::Invalid)
    } else {
        Some(NumberError::Incomplete)
    };
    NumberCheck { brand: Some(brand), candidates, is_valid, is_potentially_valid, error }
}

/// Groups the digits by the brand's gaps (`4242 4242 4242 4242`, `3782 822463 10005`).
///
/// Spaces, dashes and any other non-digit characters are dropped; full-width digits become ASCII.
/// Brands spaced every four digits keep that rhythm past their last gap (19-digit Visa:
/// `4242 4242 4242 4242 424`); an undecided brand is spaced every four digits.
pub fn format_number(input: &str) -> String {
    let mut digits = String::with_capacity(input.len());
    for c in input.chars() {
        if let Char::Digit(d) = text::classify(c) {
            digits.push(char::from(b'0' + d));
        }
    }
    let check = check_number(&digits, NumberOptions::default());
    let gaps: &[u8] = match check.brand {
        Some(b) => b.info().gaps,
        None => &[4, 8, 12],
    };
    let step = match gaps {
        [.., a, b] if b - a == 4 => Some(4usize),
        [4] => Some(4),
        _ => None,
    };
    let last = gaps.last().copied().map_or(0, usize::from);
    let mut out = String::with_capacity(digits.len() + digits.len() / 4);
    for (i, c) in digits.chars().enumerate() {
        let at_gap = gaps.iter().any(|&g| usize::from(g) == i)
            || step.is_some_and(|s| i > last && (i - last) % s == 0);
        if i > 0 && at_gap {
            out.push(' ');
        }
        out.push(c);
    }
    digits.zeroize();
    out
}

/// A complete, valid card number: a known brand, one of its lengths, and (but for UnionPay) the
/// Luhn check. Holds only ASCII digits, is erased from memory when dropped, and never prints itself:
/// `Debug` shows at most the first six and last four digits, and there is no `Display`.
pub struct CardNumber {
    digits: String,
    brand: Brand,
}

impl CardNumber {
    /// Parses a number as a person or a form sends it (spaces, dashes, full-width digits).
    pub fn parse(input: &str) -> Result<CardNumber, NumberError> {
        let check = check_number(input, NumberOptions::default());
        match (check.error, check.brand) {
            (None, Some(brand)) => {
                let mut digits = String::with_capacity(MAX_DIGITS);
                for c in input.chars() {
                    if let Char::Digit(d) = text::classify(c) {
                        digits.push(char::from(b'0' + d));
                    }
                }
                Ok(CardNumber { digits, brand })
            }
            (Some(e), _) => Err(e),
            (None, None) => Err(NumberError::Invalid),
        }
    }

    pub fn brand(&self) -> Brand {
        self.brand
    }

    pub fn last4(&self) -> &str {
        self.digits.get(self.digits.len().saturating_sub(4)..).unwrap_or("")
    }

    /// The leading digits that may be kept and shown beside the last four (see [`shown_prefix`]).
    pub fn bin(&self) -> &str {
        shown_prefix(&self.digits)
    }

    /// `424242******4242`: the shown prefix and the last four, never more than PCI DSS 3.4.1's first
    /// six and last four, and at most half of a short number.
    pub fn masked(&self) -> String {
        let hidden = self.digits.len().saturating_sub(self.bin().len() + 4);
        format!("{}{}{}", self.bin(), "*".repeat(hidden), self.last4())
    }

    /// The full number. Only the vault (to encrypt it) and the tokenization request body (to send it
    /// to the vault) call this.
    pub fn expose_digits(&self) -> &str {
        &self.digits
    }
}

/// The leading digits that may be kept and shown beside the last four: the first six of a number of 16
/// digits or more (PCI DSS's display rule), and fewer for shorter numbers, so that at most half their
/// digits are ever shown (a 12-digit Maestro keeps 2 + 4, a 15-digit American Express 3 + 4).
pub fn shown_prefix(digits: &str) -> &str {
    let total = digits.len();
    let shown = if total >= 16 { 6 } else { (total / 2).saturating_sub(4).min(6) };
    digits.get(..shown).unwrap_or("")
}

impl FromStr for CardNumber {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CardNumber::parse(s)
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({} {})", self.brand, self.masked())
    }
}

impl Drop for CardNumber {
    fn drop(&mut self) {
        self.digits.zeroize();
    }
}

impl<'de> serde::Deserialize<'de> for CardNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut raw = String::deserialize(d)?;
        let parsed = CardNumber::parse(&raw);
        raw.zeroize();
        // The error names the problem, never the input.
        parsed.map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for CardNumber {
    /// Serializes the full number: only the tokenization request (browser → vault) carries it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.digits)
    }
}
