//! Card security codes (CVC/CVV/CID): the as-you-type check and the parsed secret.

use std::fmt;

use zeroize::Zeroize;

use crate::brand::Brand;
use crate::text::{classify, Char};

/// Why a CVC is not (yet) valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CvcError {
    Invalid = 1,
    Incomplete = 2,
}

impl CvcError {
    pub fn as_str(self) -> &'static str {
        match self {
            CvcError::Invalid => "invalid_cvc",
            CvcError::Incomplete => "incomplete_cvc",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            CvcError::Invalid => "The security code is not valid.",
            CvcError::Incomplete => "The security code is incomplete.",
        }
    }
}

impl fmt::Display for CvcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for CvcError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CvcCheck {
    pub is_valid: bool,
    pub is_potentially_valid: bool,
    pub error: Option<CvcError>,
}

impl CvcCheck {
    /// valid (bit 0), potentially valid (1), error (2–3).
    pub fn pack(&self) -> u32 {
        u32::from(self.is_valid)
            | u32::from(self.is_potentially_valid) << 1
            | self.error.map_or(0, |e| e as u32) << 2
    }
}

/// The CVC lengths a brand takes; without a brand, 3 or 4.
pub fn cvc_lengths(brand: Option<Brand>) -> (usize, usize) {
    match brand {
        Some(b) => {
            let n = usize::from(b.info().cvc_length);
            (n, n)
        }
        None => (3, 4),
    }
}

/// Checks a CVC as typed (card-validator's `cvv`, with the brand's length; full-width digits count).
pub fn check_cvc(input: &str, brand: Option<Brand>) -> CvcCheck {
    let (min, max) = cvc_lengths(brand);
    let mut n = 0usize;
    for c in input.chars() {
        match classify(c) {
            Char::Digit(_) => n += 1,
            _ => {
                return CvcCheck {
                    is_valid: false,
                    is_potentially_valid: false,
                    error: Some(CvcError::Invalid),
                }
            }
        }
    }
    if (min..=max).contains(&n) {
        CvcCheck { is_valid: true, is_potentially_valid: true, error: None }
    } else if n < min {
        CvcCheck { is_valid: false, is_potentially_valid: true, error: Some(CvcError::Incomplete) }
    } else {
        CvcCheck { is_valid: false, is_potentially_valid: false, error: Some(CvcError::Invalid) }
    }
}

/// A well-formed security code. Erased when dropped; `Debug` prints `Cvc(***)`; no `Display`.
pub struct Cvc(String);

impl Cvc {
    /// Parses a code for a card of `brand` (4 digits for American Express, else 3).
    pub fn parse(input: &str, brand: Option<Brand>) -> Result<Cvc, CvcError> {
        let check = check_cvc(input, brand);
        match check.error {
            None => Ok(Cvc(input
                .chars()
                .filter_map(|c| match classify(c) {
                    Char::Digit(d) => Some(char::from(b'0' + d)),
                    _ => None,
                })
                .collect())),
            Some(e) => Err(e),
        }
    }

    /// The code itself. Only the vault (to encrypt it) and the tokenization request body read it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvc(***)")
    }
}

impl Drop for Cvc {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl serde::Serialize for Cvc {
    /// Only the tokenization request (browser → vault) carries the code.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
