//! How typed characters are read: digits (ASCII and the full-width digits Japanese keyboards type),
//! white space (exactly JavaScript's `\s`, so results agree with card-validator), dashes.

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Char {
    Digit(u8),
    Space,
    Dash,
    Other,
}

/// JavaScript's `\s`: ECMAScript WhiteSpace and LineTerminator.
pub(crate) fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

pub(crate) fn classify(c: char) -> Char {
    match c {
        '0'..='9' => Char::Digit(c as u8 - b'0'),
        // FULLWIDTH DIGIT ZERO..NINE
        '\u{ff10}'..='\u{ff19}' => Char::Digit((c as u32 - 0xff10) as u8),
        // HYPHEN-MINUS and FULLWIDTH HYPHEN-MINUS
        '-' | '\u{ff0d}' => Char::Dash,
        c if is_js_space(c) => Char::Space,
        _ => Char::Other,
    }
}

/// Folds full-width digits, solidus, hyphen and the ideographic space to ASCII, leaving everything
/// else as it is.
pub(crate) fn fold_width(input: &str) -> Cow<'_, str> {
    if input.is_ascii() {
        return Cow::Borrowed(input);
    }
    input
        .chars()
        .map(|c| match c {
            '\u{ff10}'..='\u{ff19}' | '\u{ff0f}' | '\u{ff0d}' => {
                char::from_u32(c as u32 - 0xff00 + 0x20).unwrap_or(c)
            }
            '\u{3000}' => ' ',
            c => c,
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_digits_fold_to_ascii() {
        assert_eq!(fold_width("１２／３４－５　６"), "12/34-5 6");
        assert_eq!(classify('７'), Char::Digit(7));
        assert_eq!(classify('\u{3000}'), Char::Space);
        assert_eq!(classify('\u{85}'), Char::Other, "NEL is Unicode space but not JS \\s");
        assert_eq!(classify('٣'), Char::Other, "other scripts' digits are not card digits");
    }
}
