//! The webhook client ignores proxies named by the environment (`HTTP_PROXY` and friends): a variable an
//! operator set for something else must not route deliveries, and their payloads, through a third party.
//! Its own binary: the variables it sets would reach every other test's clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cardtoken_server::domain::webhook_endpoints::SystemResolver;
use cardtoken_server::workers::delivery;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server that answers every connection with `200 OK` and counts them.
async fn counting_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .await;
            });
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test]
async fn deliveries_ignore_proxies_named_in_the_environment() {
    let (proxy, via_proxy) = counting_server().await;
    let (receiver, direct) = counting_server().await;
    for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        std::env::set_var(var, &proxy);
    }
    for var in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(var);
    }
    // The control: a client that follows the environment goes through the "proxy".
    let ordinary = reqwest::Client::new();
    ordinary.post(format!("{receiver}/hook")).body("{}").send().await.unwrap();
    assert_eq!(
        (via_proxy.load(Ordering::SeqCst), direct.load(Ordering::SeqCst)),
        (1, 0),
        "the proxy is in use"
    );

    let webhooks = delivery::client(true, Arc::new(SystemResolver));
    let resp = webhooks.post(format!("{receiver}/hook")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        (via_proxy.load(Ordering::SeqCst), direct.load(Ordering::SeqCst)),
        (1, 1),
        "straight to the receiver"
    );
}
