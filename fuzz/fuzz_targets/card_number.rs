//! Card numbers: `check_number`, `format_number` and `CardNumber` on any string (the input's bytes,
//! invalid UTF-8 replaced).
#![no_main]

use cardtoken_fuzz::{ascii_digit_count, folded_digits, kind, luhn_valid, Kind};
use cardtoken_types::{
    check_number, format_number, Brand, BrandSet, CardNumber, NumberCheck, NumberError, NumberOptions,
    Pattern,
};
use libfuzzer_sys::fuzz_target;

const LAX: NumberOptions = NumberOptions { luhn_union_pay: false };
const STRICT: NumberOptions = NumberOptions { luhn_union_pay: true };

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let input: &str = &text;
    let digits = folded_digits(input);
    let readable = input.chars().all(|c| kind(c) != Kind::Other);

    let check = check_number(input, LAX);
    holds_together(&check, &digits, readable);
    let strict = check_number(input, STRICT);
    holds_together(&strict, &digits, readable);
    assert_eq!(
        (strict.brand, strict.candidates),
        (check.brand, check.candidates),
        "options change the brand"
    );
    if check.brand != Some(Brand::UnionPay) {
        assert_eq!(strict, check, "luhnUnionPay changes a number that is not UnionPay");
    }
    assert!(!strict.is_valid || check.is_valid, "valid with the UnionPay Luhn check but not without");

    // Only the digits count, once every character is one the check reads.
    if readable {
        assert_eq!(
            check_number(&digits, LAX),
            check,
            "spaces, dashes or full-width digits change the result"
        );
    } else {
        let invalid = NumberCheck {
            brand: None,
            candidates: BrandSet::default(),
            is_valid: false,
            is_potentially_valid: false,
            error: Some(NumberError::Invalid),
        };
        assert_eq!(check, invalid, "a character other than a digit, space or dash is not refused");
    }

    formats(input, &digits, &check, readable);
    parses(input, &digits, &check);
});

/// What any result must satisfy, and that the candidates are exactly the brands whose IIN patterns the
/// digits fit (credit-card-type's rule: the first min(pattern length, digit count) digits in the range
/// cut to as many digits).
fn holds_together(c: &NumberCheck, digits: &str, readable: bool) {
    assert_eq!(c.error.is_none(), c.is_valid, "error set iff invalid");
    assert!(!c.is_valid || c.is_potentially_valid, "valid but not potentially valid");
    assert!(!c.is_valid || c.brand.is_some(), "valid without a brand");
    if let Some(b) = c.brand {
        assert!(c.candidates.contains(b), "the brand is not a candidate");
    }
    match c.error {
        Some(NumberError::Incomplete) => assert!(c.is_potentially_valid, "incomplete but hopeless"),
        Some(NumberError::TooLong) => assert!(!c.is_potentially_valid, "too long but hopeful"),
        Some(NumberError::UnknownBrand) => assert!(c.candidates.is_empty(), "unknown brand with candidates"),
        _ => {}
    }
    if c.candidates.is_empty() {
        assert!(c.brand.is_none() && !c.is_potentially_valid, "no candidates but a brand or hope");
    }
    assert_eq!(NumberCheck::unpack(c.pack()), *c, "the packed result does not round-trip");
    if readable {
        for brand in Brand::ALL {
            let fits = brand.info().patterns.iter().any(|p| pattern_fits(*p, digits));
            assert_eq!(c.candidates.contains(brand), fits, "candidate set disagrees with {brand}'s patterns");
        }
    }
}

fn pattern_fits(p: Pattern, digits: &str) -> bool {
    let len = usize::from(p.len);
    let k = len.min(digits.len());
    let value: u64 = digits.get(..k).and_then(|s| s.parse().ok()).unwrap_or(0);
    let div = 10u64.pow((len - k) as u32);
    u64::from(p.min) / div <= value && value <= u64::from(p.max) / div
}

/// `format_number`: the same digits in ASCII, single spaces at the brand's gaps, idempotent, and
/// checking the same as the raw input.
fn formats(input: &str, digits: &str, check: &NumberCheck, readable: bool) {
    let formatted = format_number(input);
    assert!(formatted.bytes().all(|b| b.is_ascii_digit() || b == b' '), "formatted to other characters");
    assert!(
        !formatted.starts_with(' ') && !formatted.ends_with(' ') && !formatted.contains("  "),
        "stray spaces in a formatted number of {} digits",
        digits.len()
    );
    assert!(formatted.replace(' ', "") == digits, "formatting changed the digits ({} of them)", digits.len());
    assert!(format_number(&formatted) == formatted, "formatting is not idempotent ({} digits)", digits.len());
    let of_digits = check_number(digits, LAX);
    assert_eq!(check_number(&formatted, LAX), of_digits, "the formatted number checks differently");
    if readable {
        assert_eq!(check_number(&formatted, LAX), *check, "formatting then checking differs from checking");
    }
    // Spaces after the gaps' digit counts; brands spaced every four keep that rhythm past the last gap.
    let gaps: Vec<usize> = match of_digits.brand {
        Some(b) => b.info().gaps.iter().map(|&g| usize::from(g)).collect(),
        None => vec![4, 8, 12],
    };
    let rhythm = gaps.iter().enumerate().all(|(i, &g)| g == 4 * (i + 1));
    let mut expected = Vec::new();
    for i in 1..digits.len() {
        let past_last = gaps.last().is_some_and(|&last| rhythm && i > last && (i - last) % 4 == 0);
        if gaps.contains(&i) || past_last {
            expected.push(i);
        }
    }
    let mut spaces = Vec::new();
    let mut count = 0;
    for b in formatted.bytes() {
        if b == b' ' {
            spaces.push(count);
        } else {
            count += 1;
        }
    }
    assert_eq!(spaces, expected, "spaces (after these digit counts) are not at the brand's gaps");
}

/// `CardNumber::parse` accepts exactly the valid numbers, and what it accepts is a known brand's
/// length and IIN range, passes Luhn (UnionPay excepted), and never shows more than 6 + 4 digits.
fn parses(input: &str, digits: &str, check: &NumberCheck) {
    let number = match CardNumber::parse(input) {
        Ok(number) => number,
        Err(e) => {
            assert!(!check.is_valid, "a valid number was refused");
            assert_eq!(Some(e), check.error, "parse and check disagree on the error");
            from_json_agrees(input, Err(e));
            return;
        }
    };
    assert!(check.is_valid, "an invalid number parsed");
    let brand = number.brand();
    assert_eq!(Some(brand), check.brand, "parse and check disagree on the brand");
    let exposed = number.expose_digits();
    let n = exposed.len();
    assert!(exposed.bytes().all(|b| b.is_ascii_digit()), "a parsed number holds other than ASCII digits");
    assert!(exposed == digits, "the parsed number is not the input's digits ({n} of {})", digits.len());
    let info = brand.info();
    assert!(info.lengths.contains(&(n as u8)), "{n} digits is not a {brand} length");
    assert!(info.patterns.iter().any(|p| pattern_fits(*p, exposed)), "outside {brand}'s IIN ranges");
    assert!(brand == Brand::UnionPay || luhn_valid(exposed), "a {brand} number of {n} digits fails Luhn");

    // The display rule: the first 6 and last 4 of 16 digits or more; of a shorter number, at most half.
    let lead = if n >= 16 { 6 } else { n / 2 - 4 };
    let (first, last4) = (&exposed[..lead], &exposed[n - 4..]);
    assert!(number.bin() == first && number.last4() == last4, "bin or last4 is not the shown prefix / last 4");
    let masked = format!("{first}{}{last4}", "*".repeat(n - lead - 4));
    assert!(number.masked() == masked, "masked is not the shown prefix, stars, last 4 ({n} digits)");
    let shown = format!("{number:?}");
    assert!(shown == format!("CardNumber({brand} {masked})"), "Debug is not the masked form ({n} digits)");
    assert_eq!(ascii_digit_count(&shown), lead + 4, "Debug shows more than the display rule allows");
    assert!(lead + 4 <= 10 && (n >= 16 || lead + 4 <= n / 2), "the display rule shows too much of {n} digits");
    from_json_agrees(input, Ok(number));
}

/// `CardNumber`'s `Deserialize` agrees with `parse`, its error names the problem only, and it
/// serializes to the digits.
fn from_json_agrees(input: &str, parsed: Result<CardNumber, NumberError>) {
    let Ok(json) = serde_json::to_string(input) else {
        panic!("a string does not serialize");
    };
    match (serde_json::from_str::<CardNumber>(&json), parsed) {
        (Ok(a), Ok(b)) => {
            assert!(
                a.expose_digits() == b.expose_digits() && a.brand() == b.brand(),
                "JSON reads another number"
            );
            let out = serde_json::to_string(&a).ok();
            assert!(
                out == serde_json::to_string(b.expose_digits()).ok(),
                "serializes to other than the digits"
            );
        }
        (Err(e), Err(expected)) => {
            let text = e.to_string();
            assert!(text.starts_with(expected.message()), "the JSON error is not the parse error's message");
        }
        (a, b) => panic!("JSON {} but parse {}", ok_or_err(&a), ok_or_err(&b)),
    }
}

fn ok_or_err<T, E>(r: &Result<T, E>) -> &'static str {
    if r.is_ok() {
        "accepts"
    } else {
        "refuses"
    }
}
