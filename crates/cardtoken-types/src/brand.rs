//! Card brands and their issuer identification number (IIN) ranges, as one table.
//!
//! Source: the npm package `credit-card-type` 10.3.0 (`dist/lib/card-types.js`), which is what
//! `card-validator` 10 uses; the contract (`shared/contract.md` §1) makes its results ours. Ranges are
//! kept exactly as published, in its precedence order (`ORIGINAL_TEST_ORDER`), so a disagreement with it
//! is a bug here. Where a brand's entry below has a note, the note says what the range is.

use std::fmt;

/// A card brand, in credit-card-type's precedence order (the order ties are broken in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(rename_all = "lowercase"))]
#[repr(u8)]
pub enum Brand {
    Visa = 0,
    Mastercard,
    Amex,
    Diners,
    Discover,
    Troy,
    Jcb,
    UnionPay,
    Naranja,
    Verve,
    Maestro,
    Elo,
    Mir,
    Hiper,
    Hipercard,
}

/// One IIN pattern: the card number's first digits lie in `min..=max`, both `len` digits long.
/// A single prefix (credit-card-type's plain number) has `min == max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub min: u32,
    pub max: u32,
    pub len: u8,
}

/// Everything the table knows about one brand.
#[derive(Debug)]
pub struct BrandInfo {
    pub brand: Brand,
    /// The contract's name (`"amex"`, `"diners"`, …).
    pub name: &'static str,
    /// The name to show a person.
    pub nice_name: &'static str,
    /// Patterns in the published order: the first one that matches decides the match strength.
    pub patterns: &'static [Pattern],
    /// Allowed lengths, ascending.
    pub lengths: &'static [u8],
    /// Where formatting puts a space (digit counts before each space).
    pub gaps: &'static [u8],
    /// The security code's length.
    pub cvc_length: u8,
    /// What the brand calls its security code.
    pub cvc_name: &'static str,
    /// Bit `d` is set when a pattern can start with digit `d` (a fast pre-filter).
    pub first_digits: u16,
}

const fn digits_of(mut n: u32) -> u8 {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// A single prefix, like credit-card-type's `4`.
const fn p(prefix: u32) -> Pattern {
    Pattern { min: prefix, max: prefix, len: digits_of(prefix) }
}

/// A range, like credit-card-type's `[51, 55]` (both ends have the same number of digits).
const fn r(min: u32, max: u32) -> Pattern {
    Pattern { min, max, len: digits_of(min) }
}

const POW10: [u32; 10] =
    [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

const fn first_digits(patterns: &[Pattern]) -> u16 {
    let mut mask = 0u16;
    let mut i = 0;
    while i < patterns.len() {
        let pat = patterns[i];
        let div = POW10[(pat.len - 1) as usize];
        let mut d = pat.min / div;
        while d <= pat.max / div {
            mask |= 1 << d;
            d += 1;
        }
        i += 1;
    }
    mask
}

macro_rules! brand {
    ($brand:ident, $name:literal, $nice:literal, [$($pat:expr),* $(,)?], lengths: [$($len:literal),*],
     gaps: [$($gap:literal),*], cvc: $cvc:literal $cvc_name:literal) => {{
        const PATTERNS: &[Pattern] = &[$($pat),*];
        BrandInfo {
            brand: Brand::$brand,
            name: $name,
            nice_name: $nice,
            patterns: PATTERNS,
            lengths: &[$($len),*],
            gaps: &[$($gap),*],
            cvc_length: $cvc,
            cvc_name: $cvc_name,
            first_digits: first_digits(PATTERNS),
        }
    }};
}

/// The table, indexed by `Brand as usize`.
pub static BRANDS: [BrandInfo; 15] = [
    brand!(Visa, "visa", "Visa", [p(4)], lengths: [16, 18, 19], gaps: [4, 8, 12], cvc: 3 "CVV"),
    // 51–55 and the 2-series range 222100–272099.
    brand!(Mastercard, "mastercard", "Mastercard",
        [r(51, 55), r(2221, 2229), r(223, 229), r(23, 26), r(270, 271), p(2720)],
        lengths: [16], gaps: [4, 8, 12], cvc: 3 "CVC"),
    brand!(Amex, "amex", "American Express", [p(34), p(37)],
        lengths: [15], gaps: [4, 10], cvc: 4 "CID"),
    brand!(Diners, "diners", "Diners Club", [r(300, 305), p(36), p(38), p(39)],
        lengths: [14, 16, 19], gaps: [4, 10], cvc: 3 "CVV"),
    brand!(Discover, "discover", "Discover", [p(6011), r(644, 649), p(65)],
        lengths: [16, 19], gaps: [4, 8, 12], cvc: 3 "CID"),
    // Troy (Turkey): 9792 and BINs in Discover's 65 range, published one by one.
    brand!(Troy, "troy", "Troy", [
        p(9792), p(650052), r(650082, 650083), p(650092), p(650161), p(650170), p(650173),
        p(650175), p(650268), p(650271), r(650273, 650274), r(650456, 650457), p(650836),
        r(650846, 650850), p(650923), p(650987), p(650990), p(654997), p(657366), p(657998),
        p(658758), r(658767, 658768), r(65083700, 65083704), r(65085800, 65085804),
        r(65085900, 65085901), p(65086000), r(65086100, 65086105), r(65086200, 65086203),
        r(65875000, 65875003), p(65875009), r(65875101, 65875104), p(65875200), p(65875501),
        p(65875601), p(65875900), r(65876000, 65876002), r(65876100, 65876103), p(65876110),
        r(65876115, 65876116), r(65876200, 65876201), p(65876500), r(65876504, 65876505),
        r(65876600, 65876602), r(65877100, 65877101), r(65877600, 65877602), p(65877700),
        r(65877801, 65877802), r(65878200, 65878202), r(65878300, 65878311),
        r(65878400, 65878405), r(65878500, 65878505), r(65878600, 65878601), p(65879800),
        p(65880800), p(65880900),
    ], lengths: [16], gaps: [4, 8, 12], cvc: 3 "CVV"),
    brand!(Jcb, "jcb", "JCB", [p(2131), p(1800), r(3528, 3589)],
        lengths: [16, 17, 18, 19], gaps: [4, 8, 12], cvc: 3 "CVV"),
    // UnionPay: 62 and 81 series. [62184, 62187] and [62185, 62197] overlap as published.
    brand!(UnionPay, "unionpay", "UnionPay", [
        p(620), r(62100, 62182), r(62184, 62187), r(62185, 62197), r(62200, 62205),
        r(622010, 622999), p(622018), r(62207, 62209), r(623, 626), p(6270), p(6272), p(6276),
        r(627700, 627779), r(627781, 627799), r(6282, 6289), p(6291), p(6292), p(810),
        r(8110, 8131), r(8132, 8151), r(8152, 8163), r(8164, 8171),
    ], lengths: [14, 15, 16, 17, 18, 19], gaps: [4, 8, 12], cvc: 3 "CVN"),
    // Naranja (Argentina).
    brand!(Naranja, "naranja", "Naranja", [p(589562), p(402918), p(527572)],
        lengths: [16], gaps: [4, 8, 12], cvc: 3 "CVV"),
    // Verve (Nigeria): BINs inside 5060–5079.
    brand!(Verve, "verve", "Verve", [
        r(506099, 506127), p(506129), r(506133, 506150), r(506158, 506163), p(506166),
        p(506168), p(506170), p(506173), r(506176, 506180), p(506184), r(506187, 506188),
        p(506191), p(506195), p(506197), p(507865), p(507866), r(507868, 507877),
        r(507880, 507888), p(507900), p(507941),
    ], lengths: [16, 18, 19], gaps: [4, 8, 12], cvc: 3 "CVV"),
    // Maestro: the catch-all `6` comes last, so more specific 6-brands win on strength.
    brand!(Maestro, "maestro", "Maestro", [
        p(493698), r(500000, 504174), r(504176, 506698), r(506779, 508999), r(56, 59), p(63),
        p(67), p(6),
    ], lengths: [12, 13, 14, 15, 16, 17, 18, 19], gaps: [4, 8, 12], cvc: 3 "CVC"),
    // Elo (Brazil).
    brand!(Elo, "elo", "Elo", [
        p(401178), p(401179), p(438935), p(457631), p(457632), p(431274), p(451416), p(457393),
        p(504175), r(506699, 506778), r(509000, 509999), p(627780), p(636297), p(636368),
        r(650031, 650033), r(650035, 650051), r(650405, 650439), r(650485, 650538),
        r(650541, 650598), r(650700, 650718), r(650720, 650727), r(650901, 650978),
        r(651652, 651679), r(655000, 655019), r(655021, 655058),
    ], lengths: [16], gaps: [4, 8, 12], cvc: 3 "CVE"),
    // Mir (Russia).
    brand!(Mir, "mir", "Mir", [r(2200, 2204)],
        lengths: [16, 17, 18, 19], gaps: [4, 8, 12], cvc: 3 "CVP2"),
    // Hiper and Hipercard (Brazil).
    brand!(Hiper, "hiper", "Hiper",
        [p(637095), p(63737423), p(63743358), p(637568), p(637599), p(637609), p(637612)],
        lengths: [16], gaps: [4, 8, 12], cvc: 3 "CVC"),
    brand!(Hipercard, "hipercard", "Hipercard", [p(606282)],
        lengths: [16], gaps: [4, 8, 12], cvc: 3 "CVC"),
];

impl Brand {
    /// Every brand, in precedence order.
    pub const ALL: [Brand; 15] = [
        Brand::Visa,
        Brand::Mastercard,
        Brand::Amex,
        Brand::Diners,
        Brand::Discover,
        Brand::Troy,
        Brand::Jcb,
        Brand::UnionPay,
        Brand::Naranja,
        Brand::Verve,
        Brand::Maestro,
        Brand::Elo,
        Brand::Mir,
        Brand::Hiper,
        Brand::Hipercard,
    ];

    pub fn info(self) -> &'static BrandInfo {
        &BRANDS[self as usize]
    }

    /// The contract's name: `visa`, `amex`, `diners`, …
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn from_index(index: usize) -> Option<Brand> {
        Brand::ALL.get(index).copied()
    }

    /// Parses the contract's name (`"amex"`); `None` for anything else.
    pub fn from_name(name: &str) -> Option<Brand> {
        Brand::ALL.into_iter().find(|b| b.name() == name)
    }

    pub fn max_length(self) -> u8 {
        self.info().lengths.iter().copied().max().unwrap_or(19)
    }
}

impl fmt::Display for Brand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Brand {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Brand {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Brand::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown card brand `{name}`")))
    }
}

/// A set of brands (bit `i` is `Brand::ALL[i]`), iterated in precedence order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BrandSet(pub u16);

impl BrandSet {
    pub const ALL: BrandSet = BrandSet((1 << 15) - 1);

    pub fn insert(&mut self, brand: Brand) {
        self.0 |= 1 << brand as u16;
    }

    pub fn contains(self, brand: Brand) -> bool {
        self.0 & (1 << brand as u16) != 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Brand> {
        Brand::ALL.into_iter().filter(move |b| self.contains(*b))
    }
}

impl Pattern {
    /// credit-card-type's `matches`: the number's first `min(len, n)` digits against the pattern
    /// bounds cut to as many digits. `prefixes[k]` is the value of the number's first `k` digits.
    #[inline]
    pub(crate) fn matches(self, prefixes: &[u32; 9], n: usize) -> bool {
        let len = self.len as usize;
        let k = len.min(n);
        let div = POW10[len - k];
        let value = prefixes[k];
        self.min / div <= value && value <= self.max / div
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_indexed_by_brand() {
        for (i, info) in BRANDS.iter().enumerate() {
            assert_eq!(info.brand as usize, i, "{}", info.name);
            assert_eq!(Brand::from_name(info.name), Some(info.brand));
        }
    }

    #[test]
    fn range_ends_have_the_same_number_of_digits() {
        for info in &BRANDS {
            for pat in info.patterns {
                assert_eq!(digits_of(pat.max), pat.len, "{} {:?}", info.name, pat);
                assert!(pat.min <= pat.max, "{} {:?}", info.name, pat);
            }
        }
    }

    #[test]
    fn first_digit_masks_cover_every_pattern() {
        assert_eq!(Brand::Visa.info().first_digits, 1 << 4);
        assert_eq!(Brand::Mastercard.info().first_digits, (1 << 2) | (1 << 5));
        assert_eq!(Brand::UnionPay.info().first_digits, (1 << 6) | (1 << 8));
        assert_eq!(Brand::Troy.info().first_digits, (1 << 6) | (1 << 9));
    }

    #[test]
    fn brand_names_round_trip_through_serde() {
        for b in Brand::ALL {
            let json = serde_json::to_string(&b).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", b.name()));
            assert_eq!(serde_json::from_str::<Brand>(&json).ok(), Some(b));
        }
        assert!(serde_json::from_str::<Brand>("\"american-express\"").is_err());
    }
}
