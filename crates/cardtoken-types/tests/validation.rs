//! Data-driven tests of the as-you-type checks: one `check(input, expected)` per function, where
//! `expected` is a short description of the whole result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code may stop at the first failure

use cardtoken_types::{
    check_cvc, check_expiry, check_number, format_number, Brand, CardNumber, Cvc, NumberCheck, NumberOptions,
    YearMonth, BRANDS,
};
use proptest::prelude::*;

/// `brand flags error candidates`: flags are `V` (valid) and `P` (potentially valid) or `-`;
/// candidates are comma-separated, `*` for all fifteen.
fn describe(c: &NumberCheck) -> String {
    let brand = c.brand.map_or("-", Brand::name);
    let cands = if c.candidates.len() == 15 {
        "*".to_string()
    } else if c.candidates.is_empty() {
        "none".to_string()
    } else {
        c.candidates.iter().map(Brand::name).collect::<Vec<_>>().join(",")
    };
    format!(
        "{brand} {}{} {} {cands}",
        if c.is_valid { 'V' } else { '-' },
        if c.is_potentially_valid { 'P' } else { '-' },
        c.error.map_or("ok", |e| e.as_str()),
    )
}

#[track_caller]
fn check_num(input: &str, expected: &str) {
    assert_eq!(describe(&check_number(input, NumberOptions::default())), expected, "input {input:?}");
}

#[test]
fn every_brand_is_recognised_from_a_real_test_number() {
    check_num("4242424242424242", "visa VP ok visa");
    check_num("4000056655665556", "visa VP ok visa");
    check_num("5555555555554444", "mastercard VP ok mastercard");
    check_num("2223003122003222", "mastercard VP ok mastercard");
    check_num("378282246310005", "amex VP ok amex");
    check_num("371449635398431", "amex VP ok amex");
    check_num("30569309025904", "diners VP ok diners");
    check_num("3056930009020004", "diners VP ok diners");
    check_num("36227206271667", "diners VP ok diners");
    check_num("6011111111111117", "discover VP ok discover,maestro");
    check_num("6011000990139424", "discover VP ok discover,maestro");
    check_num(&with_luhn_digit("979203000000000"), "troy VP ok troy");
    check_num("3566002020360505", "jcb VP ok jcb");
    check_num("6200000000000005", "unionpay VP ok unionpay,maestro");
    check_num("5895626746595650", "naranja VP ok naranja,maestro");
    check_num("5061000000000000009", "verve -- invalid_number verve,maestro");
    check_num("6304000000000000", "maestro VP ok maestro");
    check_num("5018000000000009", "maestro VP ok maestro");
    check_num("6362970000457013", "elo VP ok maestro,elo");
    check_num("2200000000000004", "mir VP ok mir");
    check_num("6370950000000005", "hiper VP ok maestro,hiper");
    check_num("6062826786276634", "hipercard VP ok maestro,hipercard");
}

#[test]
fn ambiguous_prefixes_stay_undecided_until_one_brand_is_strongest() {
    check_num("", "- -P incomplete_number *");
    check_num("4", "- -P incomplete_number visa,naranja,maestro,elo");
    check_num("6", "- -P incomplete_number discover,troy,unionpay,maestro,elo,hiper,hipercard");
    check_num("62", "- -P incomplete_number unionpay,maestro,elo");
    check_num("620", "unionpay -P incomplete_number unionpay,maestro");
    check_num("65", "- -P incomplete_number discover,troy,maestro,elo");
    check_num("650", "- -P incomplete_number discover,troy,maestro,elo");
    check_num("6500", "- -P incomplete_number discover,troy,maestro,elo");
    check_num("650052", "troy -P incomplete_number discover,troy,maestro");
    check_num("2", "- -P incomplete_number mastercard,jcb,mir");
    check_num("22", "- -P incomplete_number mastercard,mir");
    check_num("220", "mir -P incomplete_number mir");
    check_num("222", "mastercard -P incomplete_number mastercard");
    check_num("3", "- -P incomplete_number amex,diners,jcb");
    check_num("35", "jcb -P incomplete_number jcb");
    check_num("5", "- -P incomplete_number mastercard,naranja,verve,maestro,elo");
    check_num("1", "jcb -P incomplete_number jcb");
    check_num("8", "unionpay -P incomplete_number unionpay");
    check_num("9", "troy -P incomplete_number troy");
}

#[test]
fn digits_no_brand_issues_are_unknown() {
    check_num("0", "- -- unknown_brand none");
    check_num("7", "- -- unknown_brand none");
    check_num("19", "- -- unknown_brand none");
    check_num("2100", "- -- unknown_brand none");
    check_num("3400 0", "amex -P incomplete_number amex");
    check_num("97", "troy -P incomplete_number troy");
}

#[test]
fn range_edges_decide_the_brand() {
    // Mastercard 2-series: 2221–2720
    check_num("2220", "- -- unknown_brand none");
    check_num("2221", "mastercard -P incomplete_number mastercard");
    check_num("2720", "mastercard -P incomplete_number mastercard");
    check_num("2721", "- -- unknown_brand none");
    check_num("50", "- -P incomplete_number verve,maestro,elo");
    check_num("51", "mastercard -P incomplete_number mastercard");
    check_num("55", "mastercard -P incomplete_number mastercard");
    check_num("56", "maestro -P incomplete_number maestro");
    // Diners 300–305
    check_num("305", "diners -P incomplete_number diners");
    check_num("306", "- -- unknown_brand none");
    // JCB 3528–3589
    check_num("3527", "- -- unknown_brand none");
    check_num("3528", "jcb -P incomplete_number jcb");
    check_num("3589", "jcb -P incomplete_number jcb");
    check_num("3590", "- -- unknown_brand none");
    // Discover 644–649 against Maestro's catch-all 6
    check_num("643", "maestro -P incomplete_number maestro");
    check_num("644", "discover -P incomplete_number discover,maestro");
    check_num("649", "discover -P incomplete_number discover,maestro");
    // Maestro 504174 | Elo 504175 | Maestro 504176
    check_num("504174", "maestro -P incomplete_number maestro");
    check_num("504175", "elo -P incomplete_number elo");
    check_num("504176", "maestro -P incomplete_number maestro");
    // Verve 506099 (ties with Maestro's 504176–506698 at six digits: Verve comes first)
    check_num("506098", "maestro -P incomplete_number maestro");
    check_num("506099", "verve -P incomplete_number verve,maestro");
    // Maestro 506698 | Elo 506699–506778 | Maestro 506779
    check_num("506698", "maestro -P incomplete_number maestro");
    check_num("506699", "elo -P incomplete_number elo");
    check_num("506778", "elo -P incomplete_number elo");
    check_num("506779", "maestro -P incomplete_number maestro");
    // UnionPay 627779 | Elo 627780 | UnionPay 627781
    check_num("627779", "unionpay -P incomplete_number unionpay,maestro");
    check_num("627780", "elo -P incomplete_number maestro,elo");
    check_num("627781", "unionpay -P incomplete_number unionpay,maestro");
    // Troy 650923 inside Elo's 650901–650978: equal strength, Troy first
    check_num("650922", "elo -P incomplete_number discover,maestro,elo");
    check_num("650923", "troy -P incomplete_number discover,troy,maestro,elo");
    // Troy's eight-digit BINs
    check_num("6508370", "- -P incomplete_number discover,troy,maestro");
    check_num("65083704", "troy -P incomplete_number discover,troy,maestro");
    check_num("65083705", "discover -P incomplete_number discover,maestro");
    // Hiper 63737423 against Maestro 63
    check_num("6373742", "- -P incomplete_number maestro,hiper");
    check_num("63737423", "hiper -P incomplete_number maestro,hiper");
    // UnionPay 81 series: 8110–8171
    check_num("8109", "unionpay -P incomplete_number unionpay");
    check_num("8171", "unionpay -P incomplete_number unionpay");
    check_num("8172", "- -- unknown_brand none");
    // Mir 2200–2204
    check_num("2204", "mir -P incomplete_number mir");
    check_num("2205", "- -- unknown_brand none");
}

/// Every pattern's first and last prefix, padded to the brand's shortest length with a Luhn check digit,
/// is that brand, unless an earlier brand's equally specific pattern claims it (listed).
#[test]
fn every_range_end_padded_to_a_full_number_is_its_brand() {
    let claimed_by_earlier: &[(&str, Brand)] = &[("650923", Brand::Troy)];
    let mut checked = 0;
    for info in &BRANDS {
        for pat in info.patterns {
            for end in [pat.min, pat.max] {
                let prefix = end.to_string();
                let len = usize::from(info.lengths[0]);
                let number = with_luhn_digit(&format!("{prefix:0<width$}", width = len - 1));
                let c = check_number(&number, NumberOptions { luhn_union_pay: true });
                let expected = claimed_by_earlier
                    .iter()
                    .find(|(p, _)| prefix.starts_with(p))
                    .map_or(info.brand, |(_, b)| *b);
                assert_eq!(c.brand, Some(expected), "{} {prefix}", info.name);
                assert!(c.is_valid, "{} {prefix} {:?}", info.name, c.error);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 322, "two ends of each of the 161 published patterns");
}

fn with_luhn_digit(body: &str) -> String {
    (0..10).map(|d| format!("{body}{d}")).find(|n| luhn::valid(n)).unwrap()
}

#[test]
fn lengths_luhn_and_too_long() {
    check_num("424242424242424", "visa -P incomplete_number visa");
    check_num("4242424242424241", "visa -P invalid_number visa");
    check_num("424242424242424242", "visa VP ok visa");
    check_num("4242424242424242426", "visa -- invalid_number visa");
    check_num("42424242424242424260", "visa -- too_long visa");
    check_num("37828224631000", "amex -P incomplete_number amex");
    check_num("378282246310004", "amex -- invalid_number amex");
    check_num("3782822463100050", "amex -- too_long amex");
    check_num("5555555555554445", "mastercard -- invalid_number mastercard");
    check_num("55555555555544440", "mastercard -- too_long mastercard");
    // UnionPay skips Luhn unless asked
    check_num("6200000000000001", "unionpay VP ok unionpay,maestro");
    let strict = check_number("6200000000000001", NumberOptions { luhn_union_pay: true });
    assert_eq!(describe(&strict), "unionpay -P invalid_number unionpay,maestro");
    check_num("620000000000", "unionpay -P incomplete_number unionpay,maestro");
}

#[test]
fn spaces_dashes_and_full_width_digits_are_read_other_characters_are_not() {
    check_num("4242-4242-4242-4242", "visa VP ok visa");
    check_num(" 4242\t4242\u{a0}4242 4242 ", "visa VP ok visa");
    check_num("４２４２　４２４２　４２４２　４２４２", "visa VP ok visa");
    check_num("４２４２－４２４２", "visa -P incomplete_number visa");
    check_num("4242 4242 4242 424x", "- -- invalid_number none");
    check_num("4242.4242", "- -- invalid_number none");
    check_num("+4242", "- -- invalid_number none");
    check_num("٤٢٤٢", "- -- invalid_number none");
    check_num("4242\u{85}4242", "- -- invalid_number none");
    check_num("  - ", "- -P incomplete_number *");
}

#[track_caller]
fn check_exp(input: &str, expected: &str) {
    let today = YearMonth::new(2026, 11);
    let c = check_expiry(input, today, 19);
    let date = c.date.map_or("-".to_string(), |d| format!("{:04}-{:02}", d.year, d.month));
    let got = format!(
        "{date} {}{} {}",
        if c.is_valid { 'V' } else { '-' },
        if c.is_potentially_valid { 'P' } else { '-' },
        c.error.map_or("ok", |e| e.as_str())
    );
    assert_eq!(got, expected, "input {input:?}");
}

#[test]
fn every_expiry_format_people_and_autofill_type() {
    check_exp("12/30", "2030-12 VP ok");
    check_exp("12 / 30", "2030-12 VP ok");
    check_exp("12/2030", "2030-12 VP ok");
    check_exp("1/30", "2030-01 VP ok");
    check_exp("1230", "2030-12 VP ok");
    check_exp("122030", "2030-12 VP ok");
    check_exp("12 30", "2030-12 VP ok");
    check_exp("12 2030", "2030-12 VP ok");
    check_exp("2030-12", "2030-12 VP ok");
    check_exp("2030-1", "2030-01 VP ok");
    check_exp("１２／３０", "2030-12 VP ok");
    check_exp("１２　３０", "2030-12 VP ok");
    check_exp("0130", "2030-01 VP ok");
    check_exp("130", "2030-01 VP ok");
    check_exp("930", "2030-09 VP ok");
}

#[test]
fn edge_months_at_a_fixed_today() {
    // today is November 2026
    check_exp("11/26", "2026-11 VP ok");
    check_exp("10/26", "2026-10 -- expired_card");
    check_exp("12/26", "2026-12 VP ok");
    check_exp("01/27", "2027-01 VP ok");
    check_exp("12/25", "2025-12 -- expired_card");
    check_exp("12/45", "2045-12 VP ok");
    check_exp("01/2045", "2045-01 VP ok");
    check_exp("12/46", "2046-12 -- invalid_expiry");
    check_exp("01/2046", "2046-01 -- invalid_expiry");
    let jan = check_expiry("01/27", YearMonth::new(2027, 1), 19);
    assert!(jan.is_valid, "January is valid throughout January");
    let max5 = check_expiry("01/32", YearMonth::new(2026, 11), 5);
    assert_eq!(max5.error.map(|e| e.as_str()), Some("invalid_expiry"), "maxYearsAhead is honoured");
}

#[test]
fn partial_expiries_are_potentially_valid_and_nonsense_is_not() {
    check_exp("", "- -P incomplete_expiry");
    check_exp("1", "- -P incomplete_expiry");
    check_exp("12", "- -P incomplete_expiry");
    check_exp("12/", "- -P incomplete_expiry");
    check_exp("12/3", "- -P incomplete_expiry");
    check_exp("12/20", "- -P incomplete_expiry");
    check_exp("12/203", "- -P incomplete_expiry");
    check_exp("0", "- -P incomplete_expiry");
    check_exp("13/30", "- -- invalid_expiry");
    check_exp("00/30", "- -- invalid_expiry");
    check_exp("12/303", "- -- invalid_expiry");
    check_exp("12/20301", "- -- invalid_expiry");
    check_exp("ab/cd", "- -- invalid_expiry");
    check_exp("12/30/1", "- -- invalid_expiry");
    check_exp("12-30", "- -- invalid_expiry");
}

#[track_caller]
fn check_cv(input: &str, brand: Option<Brand>, expected: &str) {
    let c = check_cvc(input, brand);
    let got = format!(
        "{}{} {}",
        if c.is_valid { 'V' } else { '-' },
        if c.is_potentially_valid { 'P' } else { '-' },
        c.error.map_or("ok", |e| e.as_str())
    );
    assert_eq!(got, expected, "input {input:?} brand {brand:?}");
}

#[test]
fn cvc_lengths_follow_the_brand() {
    check_cv("", None, "-P incomplete_cvc");
    check_cv("12", None, "-P incomplete_cvc");
    check_cv("123", None, "VP ok");
    check_cv("1234", None, "VP ok");
    check_cv("12345", None, "-- invalid_cvc");
    check_cv("123", Some(Brand::Amex), "-P incomplete_cvc");
    check_cv("1234", Some(Brand::Amex), "VP ok");
    check_cv("1234", Some(Brand::Visa), "-- invalid_cvc");
    check_cv("１２３", Some(Brand::Visa), "VP ok");
    check_cv("12a", None, "-- invalid_cvc");
    check_cv("12 3", None, "-- invalid_cvc");
}

#[track_caller]
fn check_fmt(input: &str, expected: &str) {
    assert_eq!(format_number(input), expected, "input {input:?}");
}

#[test]
fn formatting_groups_digits_by_the_brands_gaps() {
    check_fmt("4242424242424242", "4242 4242 4242 4242");
    check_fmt("4242-4242 42", "4242 4242 42");
    check_fmt("378282246310005", "3782 822463 10005");
    check_fmt("3782822", "3782 822");
    check_fmt("30569309025904", "3056 930902 5904");
    check_fmt("4242424242424242424", "4242 4242 4242 4242 424");
    check_fmt("６０１１１１１１１１１１１１１７", "6011 1111 1111 1117");
    check_fmt("", "");
    check_fmt("42x4", "424");
    check_fmt("6", "6");
    check_fmt("62123", "6212 3");
}

#[test]
fn parsed_numbers_and_codes_never_print_themselves() {
    let n: CardNumber = "4000 0566 5566 5556".parse().unwrap();
    let shown = format!("{n:?}");
    assert_eq!(shown, "CardNumber(visa 400005******5556)");
    assert_eq!((n.last4(), n.bin(), n.brand()), ("5556", "400005", Brand::Visa));
    let amex: CardNumber = "378282246310005".parse().unwrap();
    assert_eq!(amex.masked(), "378********0005");
    let maestro: CardNumber = "501800000009".parse().unwrap();
    assert_eq!(
        (maestro.bin(), maestro.masked(), format!("{maestro:?}").contains("50******0009")),
        ("50", "50******0009".to_string(), true)
    );
    let cvc = Cvc::parse("123", Some(Brand::Visa)).unwrap();
    assert_eq!(format!("{cvc:?}"), "Cvc(***)");
    let err = "4242424242424241".parse::<CardNumber>().unwrap_err();
    assert_eq!(err.as_str(), "invalid_number");
    assert!(!format!("{err} {err:?}").contains("4242"));
    let json_err = serde_json::from_str::<CardNumber>("\"4242424242424241\"").unwrap_err().to_string();
    assert!(!json_err.contains("4242"), "{json_err}");
}

#[test]
fn packed_results_round_trip() {
    for s in ["", "4", "4242424242424242", "6", "x", "42424242424242424242", "3782822463100050"] {
        let c = check_number(s, NumberOptions::default());
        assert_eq!(NumberCheck::unpack(c.pack()), c, "{s}");
    }
    for s in ["12/30", "", "1", "10/26", "ab"] {
        let c = check_expiry(s, YearMonth::new(2026, 11), 19);
        assert_eq!(cardtoken_types::ExpiryCheck::unpack(c.pack()), c, "{s}");
    }
}

const TEST_NUMBERS: &[&str] = &[
    "4242424242424242",
    "5555555555554444",
    "2223003122003222",
    "378282246310005",
    "6011111111111117",
    "3056930009020004",
    "3566002020360505",
    "6200000000000005",
    "6362970000457013",
    "6370950000000005",
    "9792030000000005",
    "5061000000000000009",
];

fn typed_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..TEST_NUMBERS.len(), 0usize..=20).prop_map(|(i, n)| TEST_NUMBERS[i].chars().take(n).collect()),
        "[0-9]{0,21}",
        "[0-9 -]{0,24}",
    ]
}

proptest! {
    #[test]
    fn formatting_then_validating_gives_the_same_result_as_validating_raw(s in typed_number()) {
        let opts = NumberOptions::default();
        prop_assert_eq!(check_number(&format_number(&s), opts), check_number(&s, opts));
    }

    #[test]
    fn formatting_is_idempotent(s in typed_number()) {
        let once = format_number(&s);
        prop_assert_eq!(format_number(&once), once.clone());
    }

    #[test]
    fn no_string_makes_a_check_panic_and_errors_are_set_exactly_when_invalid(s in "\\PC{0,40}") {
        let n = check_number(&s, NumberOptions::default());
        prop_assert_eq!(n.error.is_none(), n.is_valid);
        let e = check_expiry(&s, YearMonth::new(2026, 11), 19);
        prop_assert_eq!(e.error.is_none(), e.is_valid);
        let c = check_cvc(&s, None);
        prop_assert_eq!(c.error.is_none(), c.is_valid);
        let _ = format_number(&s);
    }
}

#[test]
fn shown_digits_never_pass_six_and_four_nor_half_of_a_short_number() {
    use cardtoken_types::shown_prefix;
    assert_eq!(shown_prefix("4242424242424242"), "424242");
    assert_eq!(shown_prefix("378282246310005"), "378");
    assert_eq!(shown_prefix("501800000009"), "50"); // 12 digits: 2 + 4 = half
    assert_eq!(shown_prefix("4242424242424242424"), "424242");
    for n in 12..=19 {
        let digits = "4".repeat(n);
        let limit = if n >= 16 { 10 } else { n / 2 };
        assert!(shown_prefix(&digits).len() + 4 <= limit, "{n} digits");
    }
}
