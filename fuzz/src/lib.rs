//! What the fuzz targets share: oracles written from the rules (the contract, ECMAScript, the Luhn
//! formula), not from `cardtoken-types`' code, so that a disagreement is a finding; and the line-based
//! input format of the structured targets, which keeps their seeds readable.
//!
//! Assertion messages in the targets never print an input's characters: only lengths, positions and
//! results that hold no card data.

/// How the card number check reads a character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An ASCII digit or a full-width one (U+FF10–U+FF19), with its value.
    Digit(u8),
    /// A dash (ASCII or full-width) or white space as JavaScript's `\s` has it: ignored.
    Separator,
    /// Anything else: the number is invalid.
    Other,
}

/// JavaScript's `\s` (ECMAScript WhiteSpace and LineTerminator): Unicode's White_Space without NEL
/// (U+0085), plus ZERO WIDTH NO-BREAK SPACE (U+FEFF).
pub fn is_js_space(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

pub fn kind(c: char) -> Kind {
    if c.is_ascii_digit() {
        Kind::Digit(c as u8 - b'0')
    } else if ('\u{ff10}'..='\u{ff19}').contains(&c) {
        Kind::Digit((u32::from(c) - 0xff10) as u8)
    } else if c == '-' || c == '\u{ff0d}' || is_js_space(c) {
        Kind::Separator
    } else {
        Kind::Other
    }
}

/// The digits of `s` as ASCII, full-width ones folded, everything else dropped.
pub fn folded_digits(s: &str) -> String {
    s.chars()
        .filter_map(|c| match kind(c) {
            Kind::Digit(d) => Some(char::from(b'0' + d)),
            _ => None,
        })
        .collect()
}

/// The Luhn check of ASCII digits: from the right, every second digit doubled (minus 9 past 9), the
/// sum a multiple of 10.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let d = u32::from(b.wrapping_sub(b'0'));
        if d > 9 {
            return false;
        }
        sum += if i % 2 == 1 { [0, 2, 4, 6, 8, 1, 3, 5, 7, 9][d as usize] } else { d };
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Counts the ASCII digits of `s`.
pub fn ascii_digit_count(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// The longest run of consecutive ASCII digits in `s`.
pub fn longest_digit_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0)
}

/// Splits a structured target's input into its first `n` lines (without the `\n`; a missing line is
/// `None`) and the rest, taken whole.
pub fn lines(data: &[u8], n: usize) -> (Vec<Option<&[u8]>>, &[u8]) {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    let mut ended = false;
    for _ in 0..n {
        if ended {
            out.push(None);
            continue;
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                out.push(Some(&rest[..i]));
                rest = &rest[i + 1..];
            }
            None => {
                out.push(Some(rest));
                rest = &[];
                ended = true;
            }
        }
    }
    (out, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oracles_read_what_the_contract_says() {
        assert_eq!(folded_digits("４２4-2 x"), "4242");
        assert_eq!(kind('\u{3000}'), Kind::Separator);
        assert_eq!(kind('\u{feff}'), Kind::Separator);
        assert_eq!(kind('\u{85}'), Kind::Other);
        assert_eq!(kind('٣'), Kind::Other);
        assert!(luhn_valid("4242424242424242") && luhn_valid("378282246310005"));
        assert!(!luhn_valid("4242424242424241") && !luhn_valid("") && !luhn_valid("42a2"));
        assert_eq!(longest_digit_run("at most 200 characters, 12345"), 5);
    }

    #[test]
    fn lines_split_the_first_fields_and_keep_the_rest_whole() {
        let (fields, rest) = lines(b"a\nb\nrest\nof it", 2);
        assert_eq!((fields, rest), (vec![Some(&b"a"[..]), Some(&b"b"[..])], &b"rest\nof it"[..]));
        let (fields, rest) = lines(b"a", 3);
        assert_eq!((fields, rest), (vec![Some(&b"a"[..]), None, None], &b""[..]));
    }
}
