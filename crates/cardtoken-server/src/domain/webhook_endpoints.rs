//! Webhook endpoints: where an account's events go. Each has a `whsec_…` secret (shown once; rotating
//! keeps the old one signing for 24 hours), a filter of event types, and must be on the public internet
//! (unless the server allows private addresses, as in test mode). The same address rules guard every
//! delivery (`workers::delivery`).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use cardtoken_types::webhook::Secret;
pub use cardtoken_types::wire::WebhookEndpoint;

use crate::ids::{new_id, random_bytes};
use crate::store::{self, EndpointRecord};

use super::events::TYPES;
use super::idempotency::{self, Idempotency, Render, Reply};
use super::{Caller, Error, Services};

/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 60 * 60;
/// How long a host may take to resolve.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// Names hosts. The system's resolver in production; tests stand in a resolver that answers differently
/// each time (DNS rebinding).
pub trait HostResolver: Send + Sync {
    fn lookup(
        &self,
        host: String,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;
}

/// The operating system's resolver.
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn lookup(
        &self,
        host: String,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), port)).await?.collect()) })
    }
}

/// Resolves `host` within `DNS_TIMEOUT` to addresses a connection may use: all public, unless private ones
/// are allowed. The one place a webhook's host is resolved, for the check and for the connection alike.
pub async fn resolve_host(
    resolver: &dyn HostResolver,
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(DNS_TIMEOUT, resolver.lookup(host.to_string(), port))
            .await
            .map_err(|_| "`url`'s host took too long to resolve.".to_string())?
            .map_err(|_| "`url`'s host does not resolve.".to_string())?,
    };
    if addrs.is_empty() {
        return Err("`url`'s host does not resolve.".into());
    }
    if !allow_private && !addrs.iter().all(|a| is_public(a.ip())) {
        return Err(
            "`url` must be on the public internet: private and loopback addresses are refused.".into()
        );
    }
    Ok(addrs)
}

/// The IPv4 addresses an IPv6 address stands for: mapped and compatible forms, NAT64 (64:ff9b::/96),
/// 6to4 (2002::/16) and Teredo (2001::/32, server and client).
pub fn embedded_ipv4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = v6.to_ipv4_mapped() {
        return vec![v4];
    }
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return vec![v4(s[6], s[7])]; // ::a.b.c.d (deprecated "compatible")
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return vec![v4(s[6], s[7])];
    }
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return vec![v4(s[6], s[7])]; // ::ffff:0:a.b.c.d (SIIT's IPv4-translated)
    }
    if s[0] == 0x2002 {
        return vec![v4(s[1], s[2])];
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return vec![v4(s[2], s[3]), v4(!s[6], !s[7])];
    }
    Vec::new()
}

/// Whether an address is on the public internet (not loopback, private, link-local, shared, reserved,
/// documentation, multicast…), an IPv6 address that embeds an IPv4 one judged as that IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            let embedded = embedded_ipv4(v6);
            if !embedded.is_empty() {
                return embedded.into_iter().all(|v4| is_public(IpAddr::V4(v4)));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed privately)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 (64:ff9b:1::/48)
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
                || (s[0] == 0x2001 && s[1] < 0x0200)) // IETF special-purpose block
        }
    }
}

/// Checks an endpoint URL's form: http(s), a host, no credentials.
pub fn parse_url(url: &str) -> Result<url::Url, String> {
    if url.len() > 2048 {
        return Err("`url` can be at most 2048 characters.".into());
    }
    let parsed = url::Url::parse(url).map_err(|_| "`url` is not a valid URL.".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("`url` must be http or https.".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("`url` must not hold credentials.".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("`url` needs a host.".into());
    }
    Ok(parsed)
}

/// Resolves a URL's host to the addresses a delivery may connect to (see `resolve_host`). An error says
/// why not, without naming addresses.
pub async fn resolve(
    resolver: &dyn HostResolver,
    url: &url::Url,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    let port = url.port_or_known_default().unwrap_or(443);
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
    resolve_host(resolver, &host, port, allow_private).await
}

pub fn endpoint_json(e: &EndpointRecord, with_secret: bool) -> WebhookEndpoint {
    WebhookEndpoint {
        id: e.id.clone(),
        object: "webhook_endpoint".to_string(),
        url: e.url.clone(),
        events: e.events.clone(),
        status: if e.enabled { "enabled" } else { "disabled" }.to_string(),
        created: e.created,
        livemode: e.livemode,
        secret: with_secret.then(|| e.secret.clone()),
    }
}

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String, Error> {
    let bytes = random_bytes::<32>().map_err(Error::internal)?;
    Ok(Secret::from_bytes(&bytes).1)
}

fn no_such_endpoint() -> Error {
    Error::not_found("webhook endpoint")
}

/// Registers a receiver for the caller's account and mode; answers it with its secret, once.
pub async fn create(
    svc: &Services,
    caller: &Caller,
    url: &str,
    events: Option<Vec<String>>,
    idem: Option<Idempotency>,
    render: Render<WebhookEndpoint>,
) -> Reply<WebhookEndpoint> {
    let record = match prepare(svc, caller, url, events).await {
        Ok(r) => r,
        Err(e) => return Reply::Fresh(Err(e)),
    };
    let reply = idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        tx.insert_endpoint(&record)?;
        Ok(Ok(endpoint_json(&record, true)))
    })
    .await;
    if let Some(Ok(e)) = reply.fresh() {
        tracing::info!(endpoint = %e.id, "webhook endpoint registered");
    }
    reply
}

async fn prepare(
    svc: &Services,
    caller: &Caller,
    url: &str,
    events: Option<Vec<String>>,
) -> Result<EndpointRecord, Error> {
    let parsed = parse_url(url).map_err(|m| Error::parameter(m, "url"))?;
    resolve(svc.resolver.as_ref(), &parsed, svc.config.allow_private_webhooks)
        .await
        .map_err(|m| Error::parameter(m, "url"))?;
    let events = events.unwrap_or_else(|| vec!["*".to_string()]);
    if events.is_empty() || events.iter().any(|e| e != "*" && !TYPES.contains(&e.as_str())) {
        return Err(Error::parameter(
            format!("`events` must list event types ({}), or \"*\".", TYPES.join(", ")),
            "events",
        ));
    }
    let record = EndpointRecord {
        id: new_id("we").map_err(Error::internal)?,
        account_id: caller.scope.account.clone(),
        livemode: caller.scope.livemode,
        url: parsed.to_string(),
        events,
        enabled: true,
        secret: new_secret()?,
        previous_secret: None,
        previous_until: None,
        created: svc.now(),
    };
    Ok(record)
}

pub async fn list(svc: &Services, caller: &Caller) -> Result<Vec<WebhookEndpoint>, Error> {
    let scope = caller.scope.clone();
    let all = store::read(&svc.store, move |tx| tx.list_endpoints(&scope)).await?;
    Ok(all.iter().map(|e| endpoint_json(e, false)).collect())
}

pub async fn get(svc: &Services, caller: &Caller, id: &str) -> Result<WebhookEndpoint, Error> {
    let (scope, id) = (caller.scope.clone(), id.to_string());
    let e = store::read(&svc.store, move |tx| tx.get_endpoint(&scope, &id))
        .await?
        .ok_or_else(no_such_endpoint)?;
    Ok(endpoint_json(&e, false))
}

/// Deletes an endpoint; its pending deliveries fail.
pub async fn delete(svc: &Services, caller: &Caller, id: &str) -> Result<(), Error> {
    let now = svc.now();
    let (scope, id) = (caller.scope.clone(), id.to_string());
    if store::write(&svc.store, move |tx| tx.delete_endpoint(&scope, &id, now)).await? {
        Ok(())
    } else {
        Err(no_such_endpoint())
    }
}

/// A new secret; the old one keeps signing beside it for 24 hours.
pub async fn rotate_secret(
    svc: &Services,
    caller: &Caller,
    id: &str,
    idem: Option<Idempotency>,
    render: Render<WebhookEndpoint>,
) -> Reply<WebhookEndpoint> {
    let secret = match new_secret() {
        Ok(s) => s,
        Err(e) => return Reply::Fresh(Err(e)),
    };
    let until = svc.now() + ROTATION_OVERLAP_SECS;
    let (scope, id) = (caller.scope.clone(), id.to_string());
    let reply = idempotency::run(svc, &caller.scope, idem, render, move |tx| {
        Ok(tx
            .rotate_endpoint_secret(&scope, &id, &secret, until)?
            .map(|e| endpoint_json(&e, true))
            .ok_or_else(no_such_endpoint))
    })
    .await;
    if let Some(Ok(e)) = reply.fresh() {
        tracing::info!(endpoint = %e.id, "webhook secret rotated");
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_special_and_transition_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",                      // NAT64 of 127.0.0.1
            "64:ff9b::a9fe:a9fe",                   // NAT64 of 169.254.169.254
            "64:ff9b:1::1",                         // local-use NAT64
            "2002:7f00:1::1",                       // 6to4 of 127.0.0.1
            "2002:a00:1::",                         // 6to4 of 10.0.0.1
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo, client 127.0.0.1
            "224.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn endpoint_urls_are_checked() {
        let check = |u: &str, private: bool| {
            let u = u.to_string();
            async move {
                let parsed = parse_url(&u)?;
                resolve(&SystemResolver, &parsed, private).await.map(|_| ())
            }
        };
        assert!(check("ftp://example.com/x", true).await.is_err());
        assert!(check("https://user:pw@example.com/x", true).await.is_err());
        assert!(check("http://127.0.0.1:9/x", true).await.is_ok(), "test mode allows loopback");
        assert!(check("http://127.0.0.1:9/x", false).await.is_err());
        assert!(check("http://[::1]/x", false).await.is_err());
        assert!(check("http://[64:ff9b::7f00:1]/x", false).await.is_err());
        assert!(check("http://169.254.169.254/latest", false).await.is_err());
        assert!(check("http://93.184.216.34/hook", false).await.is_ok());
    }
}
