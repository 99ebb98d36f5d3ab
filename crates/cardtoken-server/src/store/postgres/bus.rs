//! The bus between instances: `NOTIFY` through the pool, `LISTEN` on a connection of its own, on a
//! thread of its own, reconnecting when the connection is lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use super::Pool;
use crate::store::{Bus, Listening, Result, StoreError};

pub struct PgBus {
    pub(super) pool: Arc<Pool>,
}

/// The channel of an instance: its name, which is lowercase letters, digits and `_` (never quoted
/// wrongly), under a prefix of ours.
fn channel(name: &str) -> Result<String> {
    if name.is_empty()
        || name.len() > 48
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(StoreError::Db("a bus name is lowercase letters, digits and _".into()));
    }
    Ok(format!("cardtoken_{name}"))
}

impl Bus for PgBus {
    fn send(&self, to: &str, message: &str) -> Result<()> {
        let channel = channel(to)?;
        let mut conn = self.pool.get()?;
        let sent = conn.client.execute("SELECT pg_notify($1, $2)", &[&channel, &message]);
        self.pool.put(conn);
        sent.map(|_| ()).map_err(StoreError::from)
    }

    fn listen(&self, me: &str, deliver: Box<dyn Fn(String) + Send + Sync>) -> Result<Listening> {
        let channel = channel(me)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (url, stopping) = (self.pool.url.clone(), stop.clone());
        // The first LISTEN happens before this answers, so nothing sent after it is missed.
        let mut client = connect(&url, &channel)?;
        std::thread::Builder::new()
            .name("pg-bus".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    let outcome = (|| -> std::result::Result<(), postgres::Error> {
                        let mut notifications = client.notifications();
                        let mut it = notifications.timeout_iter(Duration::from_millis(250));
                        while let Some(n) = it.next()? {
                            deliver(n.payload().to_string());
                        }
                        Ok(())
                    })();
                    if outcome.is_err() || client.is_closed() {
                        tracing::warn!("the bus between instances lost its connection: reconnecting");
                        loop {
                            if stopping.load(Ordering::Relaxed) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(500));
                            if let Ok(c) = connect(&url, &channel) {
                                client = c;
                                break;
                            }
                        }
                    }
                }
                let _ = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(client));
            })
            .map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Listening(Box::new(StopOnDrop(stop))))
    }
}

fn connect(url: &str, channel: &str) -> Result<Client> {
    let mut client = Client::connect(url, NoTls).map_err(|e| StoreError::Open(e.to_string()))?;
    client.batch_execute(&format!("SET client_min_messages = warning; LISTEN \"{channel}\""))?;
    Ok(client)
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
