//! Tokens: a card checked (with the same code as the browser's, never trusting it), vaulted, and
//! answered as a Token (brand, last four, expiry, fingerprint; never the number). A token is used once,
//! by a payment, within its lifetime (15 minutes by default).

use cardtoken_types::wire::{CardData, CardDataError, CardInput, Token, TokenCard, TokenRequest};
use cardtoken_types::{check_number, Brand, CardNumber, Cvc, NumberError, NumberOptions};

use crate::clock::year_month;
use crate::ids::new_id;
use crate::store::{self, TokenRecord};
use crate::vault::OpenedCard;

use super::idempotency::{self, Idempotency, Render, Reply};
use super::{ratelimit, Caller, Error, Services};

pub fn token_json(t: &TokenRecord) -> Token {
    Token {
        id: t.id.clone(),
        object: "token".to_string(),
        card: TokenCard {
            brand: Brand::from_name(&t.brand).unwrap_or(Brand::Visa),
            last4: t.last4.clone(),
            exp_month: t.exp_month,
            exp_year: t.exp_year,
            fingerprint: t.fingerprint.clone(),
        },
        created: t.created,
        livemode: t.livemode,
        used: t.used,
    }
}

/// A refused card as the API answers it: 402 `card_error` naming the field, or 400 for the name.
pub fn card_error(e: CardDataError, number: &str) -> Error {
    // A number of a known brand and length that fails the Luhn check is "incorrect".
    let luhn_failure = || {
        let check = check_number(number, NumberOptions::default());
        check.brand.is_some() && check.error == Some(NumberError::Invalid)
    };
    let (code, message): (&'static str, &'static str) = match e.code {
        "invalid_number" if luhn_failure() => ("incorrect_number", "Your card number is incorrect."),
        "invalid_number" | "incomplete_number" | "unknown_brand" | "too_long" => {
            ("invalid_number", "Your card number is not a valid card number.")
        }
        "incomplete_cvc" | "invalid_cvc" => ("invalid_cvc", "Your card's security code is invalid."),
        "expired_card" => ("expired_card", "Your card has expired."),
        "invalid_expiry_month" => ("invalid_expiry_month", "Your card's expiration month is invalid."),
        "invalid_expiry_year" => ("invalid_expiry_year", "Your card's expiration year is invalid."),
        _ => return Error::parameter(e.message, e.param),
    };
    Error::Card { code, message, param: Some(e.param), decline_code: None }
}

/// Tokenizes a card (publishable key), from `client` (the shopper's address, for the card-testing
/// defence).
pub async fn create(
    svc: &Services,
    caller: &Caller,
    client: Option<std::net::IpAddr>,
    request: TokenRequest,
    idem: Option<Idempotency>,
    render: Render<Token>,
) -> Reply<Token> {
    let encrypted = request.card_jwe.is_some();
    match admit(svc, caller, client, request).await {
        Ok(record) => store_token(svc, caller, record, encrypted, idem, render).await,
        Err(e) => Reply::Fresh(Err(e)),
    }
}

/// The public keys browsers encrypt cards to (`GET /.well-known/jwks.json`), the current one first.
pub fn encryption_keys(svc: &Services) -> crate::jwe::Jwks {
    svc.vault.jwks(svc.now())
}

/// Records the check values of the vault's card-encryption keys in storage (after a rotation, or once a
/// running instance has read a rotated keys file), so that instances started later holding them are
/// recognized as the deployment's (see `startup::check_keys`).
pub async fn record_encryption_keys(
    store: &std::sync::Arc<dyn store::Store>,
    vault: &crate::vault::Vault,
) -> Result<(), Error> {
    let checks = vault.encryption_checks();
    store::write(store, move |tx| {
        for (name, value) in &checks {
            tx.insert_setting(name, value)?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// The one answer to every `card_jwe` that does not open: which check failed stays in the logs.
fn undecryptable() -> Error {
    Error::parameter(
        "`card_jwe` could not be decrypted: encrypt the card again to a current key of /.well-known/jwks.json.",
        "card_jwe",
    )
}

/// The card a request carries: in clear (unless the account takes it only encrypted), or encrypted to
/// one of the server's keys (`jwe`).
async fn card_of(
    svc: &Services,
    caller: &Caller,
    request: TokenRequest,
    now: i64,
) -> Result<CardInput, Error> {
    match (request.card, request.card_jwe) {
        (Some(_), None) if super::accounts::requires_encryption(svc, &caller.scope.account).await? => {
            Err(Error::invalid(
                "encryption_required",
                "This account takes card data only encrypted: send `card_jwe`, the card encrypted to a key of \
                 /.well-known/jwks.json (the cardtoken package does so by default).",
                Some("card"),
            ))
        }
        (Some(card), None) => Ok(card),
        (None, Some(jwe)) => {
            let plain = svc.vault.decrypt_jwe(jwe.expose(), now).map_err(|e| {
                tracing::info!(reason = %e, "card_jwe refused");
                undecryptable()
            })?;
            // The plaintext is a `card` object; serde's message could quote it: not used.
            serde_json::from_slice::<CardInput>(&plain).map_err(|_| {
                tracing::info!(reason = "the plaintext is not a card object", "card_jwe refused");
                undecryptable()
            })
        }
        (Some(_), Some(_)) => Err(Error::parameter("Send `card` or `card_jwe`, not both.", "card_jwe")),
        (None, None) => Err(Error::invalid(
            "parameter_missing",
            "Send the card: `card`, or `card_jwe` (the card encrypted to a key of /.well-known/jwks.json).",
            Some("card"),
        )),
    }
}

/// The checks and the sealing: answers the record to store.
async fn admit(
    svc: &Services,
    caller: &Caller,
    client: Option<std::net::IpAddr>,
    request: TokenRequest,
) -> Result<TokenRecord, Error> {
    let now = svc.now();
    ratelimit::admit_client(svc, client).await?;
    let input = match card_of(svc, caller, request, now).await {
        Ok(c) => c,
        Err(e) => {
            // Undecryptable data costs what a refused card costs: it may be a script probing.
            ratelimit::charge_failure(svc, client, None).await;
            return Err(e);
        }
    };
    // The contract's test cards are public: in test mode, limiting them protects no one.
    let limited =
        |number: &CardNumber| caller.scope.livemode || !super::payments::processor::is_test_card(number);
    let fields = input.fields();
    let card = match CardData::parse(fields, year_month(now)) {
        Ok(c) => c,
        Err(e) => {
            // A good number with a wrong expiry or CVC: its card pays too (someone may be guessing them).
            let number = CardNumber::parse(fields.number).ok().filter(|n| limited(n));
            let fingerprint = number.map(|n| svc.vault.fingerprint(&n));
            ratelimit::charge_failure(svc, client, fingerprint.as_deref()).await;
            return Err(card_error(e, fields.number));
        }
    };
    let fingerprint = svc.vault.fingerprint(&card.number);
    let limited_card = limited(&card.number).then_some(fingerprint.as_str());
    ratelimit::admit_card(svc, limited_card).await?;
    ratelimit::admit_key(svc, &caller.scope, &caller.key_id).await?;
    seal(svc, caller, &card, fingerprint, now).await
}

async fn store_token(
    svc: &Services,
    caller: &Caller,
    record: TokenRecord,
    encrypted: bool,
    idem: Option<Idempotency>,
    render: Render<Token>,
) -> Reply<Token> {
    let now = record.created;
    let token = token_json(&record);
    let reply = idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        tx.insert_token(&record)?;
        Ok(Ok(token))
    })
    .await;
    if let Some(Ok(t)) = reply.fresh() {
        svc.monitor.record_token(&caller.scope, now, encrypted);
        tracing::info!(token = %t.id, brand = %t.card.brand, last4 = %t.card.last4, "token created");
    }
    reply
}

async fn seal(
    svc: &Services,
    caller: &Caller,
    card: &CardData,
    fingerprint: String,
    now: i64,
) -> Result<TokenRecord, Error> {
    let id = new_id("tok").map_err(Error::internal)?;
    let sealed = svc.vault.seal(&id, card)?;
    let record = TokenRecord {
        id,
        account_id: caller.scope.account.clone(),
        livemode: caller.scope.livemode,
        key_id: caller.key_id.clone(),
        created: now,
        expires: now + svc.config.token_ttl_secs,
        used: false,
        brand: card.number.brand().name().to_string(),
        last4: card.number.last4().to_string(),
        bin: card.number.bin().to_string(),
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        fingerprint,
        master_version: sealed.master_version,
        wrapped_key: Some(sealed.wrapped_key),
        card_ct: Some(sealed.card_ct),
        cvc_holder: Some(svc.cvcs.id().to_string()),
    };
    // The CVC stays here, in memory, never in storage (held before the token is stored: a token that
    // fails to store leaves a CVC no one asks for, dropped when it would have expired).
    let cvc =
        Cvc::parse(card.cvc.expose(), None).map_err(|_| Error::internal("a parsed CVC did not parse"))?;
    super::cvcs::hold(svc, &record, cvc);
    Ok(record)
}

/// A token's card out of the vault: the number and name, and the CVC when asked for and still there.
pub async fn open(svc: &Services, t: &TokenRecord, with_cvc: bool) -> Result<OpenedCard, Error> {
    let (Some(wrapped), Some(ct)) = (&t.wrapped_key, &t.card_ct) else {
        return Err(Error::invalid(
            "token_expired",
            "This token's card data is no longer kept. Create a new token.",
            Some("token"),
        ));
    };
    let mut card = svc.vault.open_card(&t.id, t.master_version, wrapped, ct)?;
    if with_cvc && !t.used {
        card.cvc = super::cvcs::fetch(svc, t).await;
    }
    Ok(card)
}

/// Why a token could not be used.
pub fn unusable(token: Option<&TokenRecord>, now: i64) -> Error {
    match token {
        None => Error::NotFound { message: "No such token.".to_string() },
        Some(t) if t.used => Error::invalid(
            "token_already_used",
            "This token has already been used; tokens are single-use. Create a new one.",
            Some("token"),
        ),
        Some(t) if t.expires <= now => Error::invalid(
            "token_expired",
            "This token has expired (tokens last 15 minutes). Create a new one.",
            Some("token"),
        ),
        Some(_) => Error::internal("a usable token was refused"),
    }
}

/// A token (secret key). Never the number.
pub async fn get(svc: &Services, caller: &Caller, id: &str) -> Result<Token, Error> {
    if !id.starts_with("tok_") || id.len() > 64 {
        return Err(Error::not_found("token"));
    }
    let (scope, id) = (caller.scope.clone(), id.to_string());
    let record = store::read(&svc.store, move |tx| tx.get_token(&scope, &id)).await?;
    record.map(|t| token_json(&t)).ok_or_else(|| Error::not_found("token"))
}
