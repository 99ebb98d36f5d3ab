//! ISO 4217 currencies and their minor units: amounts are integers in the minor unit (JPY has none,
//! so 1000 means ¥1000; USD has two, so 1000 means $10.00).

/// Active ISO 4217 codes (lowercase, as the API writes them) with their exponent.
/// Source: the ISO 4217 list one (current currency & funds), minus precious metals, testing and
/// no-currency codes (XAU, XAG, XPD, XPT, XTS, XXX) and supranational accounting units (XBA–XBD, XDR, XSU, XUA).
const CURRENCIES: &[(&str, u8)] = &[
    ("aed", 2),
    ("afn", 2),
    ("all", 2),
    ("amd", 2),
    ("ang", 2),
    ("aoa", 2),
    ("ars", 2),
    ("aud", 2),
    ("awg", 2),
    ("azn", 2),
    ("bam", 2),
    ("bbd", 2),
    ("bdt", 2),
    ("bgn", 2),
    ("bhd", 3),
    ("bif", 0),
    ("bmd", 2),
    ("bnd", 2),
    ("bob", 2),
    ("bov", 2),
    ("brl", 2),
    ("bsd", 2),
    ("btn", 2),
    ("bwp", 2),
    ("byn", 2),
    ("bzd", 2),
    ("cad", 2),
    ("cdf", 2),
    ("che", 2),
    ("chf", 2),
    ("chw", 2),
    ("clf", 4),
    ("clp", 0),
    ("cny", 2),
    ("cop", 2),
    ("cou", 2),
    ("crc", 2),
    ("cup", 2),
    ("cve", 2),
    ("czk", 2),
    ("djf", 0),
    ("dkk", 2),
    ("dop", 2),
    ("dzd", 2),
    ("egp", 2),
    ("ern", 2),
    ("etb", 2),
    ("eur", 2),
    ("fjd", 2),
    ("fkp", 2),
    ("gbp", 2),
    ("gel", 2),
    ("ghs", 2),
    ("gip", 2),
    ("gmd", 2),
    ("gnf", 0),
    ("gtq", 2),
    ("gyd", 2),
    ("hkd", 2),
    ("hnl", 2),
    ("htg", 2),
    ("huf", 2),
    ("idr", 2),
    ("ils", 2),
    ("inr", 2),
    ("iqd", 3),
    ("irr", 2),
    ("isk", 0),
    ("jmd", 2),
    ("jod", 3),
    ("jpy", 0),
    ("kes", 2),
    ("kgs", 2),
    ("khr", 2),
    ("kmf", 0),
    ("kpw", 2),
    ("krw", 0),
    ("kwd", 3),
    ("kyd", 2),
    ("kzt", 2),
    ("lak", 2),
    ("lbp", 2),
    ("lkr", 2),
    ("lrd", 2),
    ("lsl", 2),
    ("lyd", 3),
    ("mad", 2),
    ("mdl", 2),
    ("mga", 2),
    ("mkd", 2),
    ("mmk", 2),
    ("mnt", 2),
    ("mop", 2),
    ("mru", 2),
    ("mur", 2),
    ("mvr", 2),
    ("mwk", 2),
    ("mxn", 2),
    ("mxv", 2),
    ("myr", 2),
    ("mzn", 2),
    ("nad", 2),
    ("ngn", 2),
    ("nio", 2),
    ("nok", 2),
    ("npr", 2),
    ("nzd", 2),
    ("omr", 3),
    ("pab", 2),
    ("pen", 2),
    ("pgk", 2),
    ("php", 2),
    ("pkr", 2),
    ("pln", 2),
    ("pyg", 0),
    ("qar", 2),
    ("ron", 2),
    ("rsd", 2),
    ("rub", 2),
    ("rwf", 0),
    ("sar", 2),
    ("sbd", 2),
    ("scr", 2),
    ("sdg", 2),
    ("sek", 2),
    ("sgd", 2),
    ("shp", 2),
    ("sle", 2),
    ("sos", 2),
    ("srd", 2),
    ("ssp", 2),
    ("stn", 2),
    ("svc", 2),
    ("syp", 2),
    ("szl", 2),
    ("thb", 2),
    ("tjs", 2),
    ("tmt", 2),
    ("tnd", 3),
    ("top", 2),
    ("try", 2),
    ("ttd", 2),
    ("twd", 2),
    ("tzs", 2),
    ("uah", 2),
    ("ugx", 0),
    ("usd", 2),
    ("usn", 2),
    ("uyi", 0),
    ("uyu", 2),
    ("uyw", 4),
    ("uzs", 2),
    ("ved", 2),
    ("ves", 2),
    ("vnd", 0),
    ("vuv", 0),
    ("wst", 2),
    ("xaf", 0),
    ("xcd", 2),
    ("xcg", 2),
    ("xof", 0),
    ("xpf", 0),
    ("yer", 2),
    ("zar", 2),
    ("zmw", 2),
    ("zwg", 2),
];

/// A currency the API accepts: a lowercase ISO 4217 code and its exponent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

impl Currency {
    /// Parses a code in either case (`"JPY"`, `"jpy"`); `None` for anything that is not ISO 4217.
    pub fn parse(code: &str) -> Option<Currency> {
        if code.len() != 3 {
            return None;
        }
        let lower = code.to_ascii_lowercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == lower)
            .map(|(code, exponent)| Currency { code, exponent: *exponent })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point: 0 for JPY, 2 for USD, 3 for KWD.
    pub fn exponent(self) -> u8 {
        self.exponent
    }

    /// The largest amount accepted, in the minor unit: the equivalent of 999,999.99 major units for
    /// two-decimal currencies (Stripe's eight-digit ceiling), scaled by the exponent.
    pub fn max_amount(self) -> u64 {
        match self.exponent {
            0 => 99_999_999,
            e => 99_999_999 * 10u64.pow(u32::from(e).saturating_sub(2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_in_either_case_with_their_exponent() {
        assert_eq!(Currency::parse("JPY").map(|c| (c.code(), c.exponent())), Some(("jpy", 0)));
        assert_eq!(Currency::parse("usd").map(Currency::exponent), Some(2));
        assert_eq!(Currency::parse("kwd").map(Currency::exponent), Some(3));
        assert!(Currency::parse("xxx").is_none() && Currency::parse("abc").is_none());
        assert!(Currency::parse("us").is_none() && Currency::parse("usdd").is_none());
        assert_eq!(Currency::parse("jpy").map(Currency::max_amount), Some(99_999_999));
        assert_eq!(Currency::parse("kwd").map(Currency::max_amount), Some(999_999_990));
    }

    #[test]
    fn the_table_is_sorted_and_unique() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
