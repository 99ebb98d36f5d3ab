//! The payment state machine, in one place: which event moves a payment from which status to which.
//! Everything not in `next` is an illegal transition, answered with a 400 naming the current status.

use cardtoken_types::wire::PaymentStatus;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The issuer approved; `capture` says whether to capture at once.
    Authorized {
        capture: bool,
    },
    /// The issuer wants 3-D Secure first.
    ChallengeRequired,
    /// The issuer (or the cardholder's authentication) said no.
    Declined,
    Capture,
    Cancel,
    Refund,
    /// A refund failed at the bank after it had succeeded: `amount_refunded` goes back down.
    RefundReversed,
    /// The cardholder's bank opened a dispute (chargeback) on a captured payment.
    DisputeOpened,
}

/// The status after `event`, from `from` (`None` for a payment being created); `None` if illegal.
pub fn next(from: Option<PaymentStatus>, event: Event) -> Option<PaymentStatus> {
    use PaymentStatus::*;
    let approved = |capture| if capture { Succeeded } else { RequiresCapture };
    match (from, event) {
        (None | Some(RequiresAction), Event::Authorized { capture }) => Some(approved(capture)),
        (None, Event::ChallengeRequired) => Some(RequiresAction),
        (None | Some(RequiresAction), Event::Declined) => Some(Failed),
        (Some(RequiresCapture), Event::Capture) => Some(Succeeded),
        (Some(RequiresCapture | RequiresAction), Event::Cancel) => Some(Canceled),
        // A refund keeps `succeeded` and raises `amount_refunded`; a failed refund and a dispute keep it too.
        (Some(Succeeded), Event::Refund | Event::RefundReversed | Event::DisputeOpened) => Some(Succeeded),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentStatus::*;

    const ALL: [Option<PaymentStatus>; 6] =
        [None, Some(RequiresAction), Some(RequiresCapture), Some(Succeeded), Some(Failed), Some(Canceled)];
    const EVENTS: [Event; 9] = [
        Event::Authorized { capture: true },
        Event::Authorized { capture: false },
        Event::ChallengeRequired,
        Event::Declined,
        Event::Capture,
        Event::Cancel,
        Event::Refund,
        Event::RefundReversed,
        Event::DisputeOpened,
    ];

    #[test]
    fn exactly_the_legal_transitions_are_allowed() {
        let legal = [
            (None, Event::Authorized { capture: true }, Succeeded),
            (None, Event::Authorized { capture: false }, RequiresCapture),
            (None, Event::ChallengeRequired, RequiresAction),
            (None, Event::Declined, Failed),
            (Some(RequiresAction), Event::Authorized { capture: true }, Succeeded),
            (Some(RequiresAction), Event::Authorized { capture: false }, RequiresCapture),
            (Some(RequiresAction), Event::Declined, Failed),
            (Some(RequiresAction), Event::Cancel, Canceled),
            (Some(RequiresCapture), Event::Capture, Succeeded),
            (Some(RequiresCapture), Event::Cancel, Canceled),
            (Some(Succeeded), Event::Refund, Succeeded),
            (Some(Succeeded), Event::RefundReversed, Succeeded),
            (Some(Succeeded), Event::DisputeOpened, Succeeded),
        ];
        let mut allowed = 0;
        for from in ALL {
            for event in EVENTS {
                let expected = legal.iter().find(|(f, e, _)| *f == from && *e == event).map(|(_, _, to)| *to);
                assert_eq!(next(from, event), expected, "{from:?} --{event:?}-->");
                allowed += usize::from(expected.is_some());
            }
        }
        assert_eq!(allowed, legal.len());
        // Terminal states move no further.
        for event in EVENTS {
            assert_eq!(next(Some(Failed), event), None);
            assert_eq!(next(Some(Canceled), event), None);
        }
    }
}
