//! What the cardtoken browser package and server share: card parsing and validation, and the
//! HTTP API's wire types. No I/O, no clock: "today" is always an argument.
//!
//! Card numbers and CVCs parse into [`CardNumber`] and [`Cvc`], whose `Debug` never shows them, which
//! have no `Display`, and which erase themselves when dropped. The as-you-type checks
//! ([`check_number`], [`check_expiry`], [`check_cvc`]) hold no card data and agree with the npm package
//! `card-validator` 10 wherever `shared/contract.md` is silent.
//!
//! ```
//! use cardtoken_types::{check_number, format_number, Brand, CardNumber, NumberOptions};
//! assert_eq!(format_number("378282246310005"), "3782 822463 10005");
//! let number: CardNumber = "4242 4242 4242 4242".parse().unwrap();
//! assert_eq!(number.brand(), Brand::Visa);
//! assert_eq!(format!("{number:?}"), "CardNumber(visa 424242******4242)");
//! assert!(check_number("6", NumberOptions::default()).is_potentially_valid);
//! ```

mod brand;
mod currency;
mod cvc;
mod expiry;
mod number;
mod text;
#[cfg(feature = "webhooks")]
pub mod webhook;
pub mod wire;

pub use brand::{Brand, BrandInfo, BrandSet, Pattern, BRANDS};
pub use currency::Currency;
pub use cvc::{check_cvc, cvc_lengths, Cvc, CvcCheck, CvcError};
pub use expiry::{
    check_expiry, Expiry, ExpiryCheck, ExpiryError, ExpiryField, YearMonth, DEFAULT_MAX_YEARS_AHEAD,
};
pub use number::{
    check_number, format_number, shown_prefix, CardNumber, NumberCheck, NumberError, NumberOptions,
    MAX_DIGITS,
};
