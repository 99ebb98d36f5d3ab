//! The processor decides what a card's bank says. One trait, so the payments code does not know
//! whether test cards (today) or a real acquirer (one day) answer.

use cardtoken_types::{CardNumber, Currency, Cvc};

pub struct AuthRequest<'a> {
    pub number: &'a CardNumber,
    /// `None` after the token's CVC was erased (a challenge completed later).
    pub cvc: Option<&'a Cvc>,
    pub amount: u64,
    pub currency: Currency,
}

/// A refusal, as the API reports it: `code`, `decline_code` and a message for the cardholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decline {
    pub code: &'static str,
    pub decline_code: Option<&'static str>,
    pub message: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    /// The issuer wants 3-D Secure before it decides.
    Challenge,
    Decline(Decline),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundDecision {
    Succeed,
    /// Succeeds now and fails later at the bank (`refund.failed`).
    SucceedThenFail,
}

pub trait Processor: Send + Sync + 'static {
    fn authorize(&self, request: &AuthRequest<'_>) -> Decision;
    /// The issuer's answer once the cardholder passed (or failed) the challenge.
    fn complete_challenge(&self, request: &AuthRequest<'_>, passed: bool) -> Decision;
    fn refund(&self, number: &CardNumber, amount: u64) -> RefundDecision;
    /// Whether a dispute (chargeback) opens after the payment is captured.
    fn disputes_after_capture(&self, number: &CardNumber) -> bool;
}

const fn declined(decline_code: &'static str, message: &'static str) -> Decision {
    Decision::Decline(Decline { code: "card_declined", decline_code: Some(decline_code), message })
}

pub const AUTHENTICATION_FAILED: Decline = Decline {
    code: "authentication_failed",
    decline_code: None,
    message: "The cardholder did not complete 3-D Secure authentication.",
};

/// The test cards of `shared/contract.md` §3 (numbers as Stripe's test mode uses them).
const TEST_CARDS: &[(&str, Decision)] = &[
    ("4000000000000002", declined("generic_decline", "Your card was declined.")),
    ("4000000000009995", declined("insufficient_funds", "Your card has insufficient funds.")),
    ("4000000000009987", declined("lost_card", "Your card was declined.")),
    ("4000000000009979", declined("stolen_card", "Your card was declined.")),
    ("4000000000006975", declined("card_velocity_exceeded", "Your card has exceeded its limit for now.")),
    ("4100000000000019", declined("fraudulent", "Your card was declined.")),
    (
        "4000000000000069",
        Decision::Decline(Decline {
            code: "expired_card",
            decline_code: Some("expired_card"),
            message: "Your card has expired.",
        }),
    ),
    (
        "4000000000000127",
        Decision::Decline(Decline {
            code: "incorrect_cvc",
            decline_code: Some("incorrect_cvc"),
            message: "Your card's security code is incorrect.",
        }),
    ),
    (
        "4000000000000119",
        Decision::Decline(Decline {
            code: "processing_error",
            decline_code: Some("processing_error"),
            message: "An error occurred while processing your card. Try again in a little bit.",
        }),
    ),
    ("4000002500003155", Decision::Challenge),
    ("4000000000003220", Decision::Challenge),
    ("4000008400001629", Decision::Challenge),
];

/// What a known test card gets in live mode: declined, before any processor is asked.
pub const LIVE_MODE_TEST_CARD: Decline = Decline {
    code: "card_declined",
    decline_code: Some("live_mode_test_card"),
    message: "Your card was declined: this is live mode, and the card is a known test card.",
};

/// Every card number of `shared/contract.md` §3, whatever its outcome in test mode.
pub const KNOWN_TEST_CARDS: &[&str] = &[
    "4242424242424242",
    "5555555555554444",
    "2223003122003222",
    "378282246310005",
    "6011111111111117",
    "3056930009020004",
    "3566002020360505",
    "6200000000000005",
    "4000000000000002",
    "4000000000009995",
    "4000000000009987",
    "4000000000009979",
    "4000000000006975",
    "4100000000000019",
    "4000000000000069",
    "4000000000000127",
    "4000000000000119",
    "4000002500003155",
    "4000000000003220",
    "4000008400001629",
    "4000000000000259",
    "4000000000005126",
    "4242424242424241",
];

/// Whether a number is one of the contract's test cards.
pub fn is_test_card(number: &CardNumber) -> bool {
    KNOWN_TEST_CARDS.contains(&number.expose_digits())
}

/// Challenged cards that the issuer declines even after a passed challenge.
const DECLINED_AFTER_CHALLENGE: &[&str] = &["4000008400001629"];
const DISPUTED: &[&str] = &["4000000000000259"];
const REFUNDS_FAIL: &[&str] = &["4000000000005126"];

/// Decides by card number: the contract's test cards, and approval for every other valid card.
pub struct TestCards;

impl Processor for TestCards {
    fn authorize(&self, request: &AuthRequest<'_>) -> Decision {
        let digits = request.number.expose_digits();
        TEST_CARDS.iter().find(|(n, _)| *n == digits).map_or(Decision::Approve, |(_, d)| *d)
    }

    fn complete_challenge(&self, request: &AuthRequest<'_>, passed: bool) -> Decision {
        if !passed {
            return Decision::Decline(AUTHENTICATION_FAILED);
        }
        if DECLINED_AFTER_CHALLENGE.contains(&request.number.expose_digits()) {
            return declined("generic_decline", "Your card was declined.");
        }
        Decision::Approve
    }

    fn refund(&self, number: &CardNumber, _amount: u64) -> RefundDecision {
        if REFUNDS_FAIL.contains(&number.expose_digits()) {
            RefundDecision::SucceedThenFail
        } else {
            RefundDecision::Succeed
        }
    }

    fn disputes_after_capture(&self, number: &CardNumber) -> bool {
        DISPUTED.contains(&number.expose_digits())
    }
}
