//! Fail points: named places inside an operation where a test can make it fail as a crash would, to
//! show that nothing of the operation survives (or, after the commit, that a retry replays it). Unarmed,
//! each costs one atomic load. Only code can arm them: no configuration or request can.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::store::StoreError;

#[derive(Default)]
pub struct FailPoints {
    armed: AtomicBool,
    point: Mutex<Option<&'static str>>,
}

impl FailPoints {
    /// Makes the next pass through `point` fail (once).
    pub fn arm(&self, point: &'static str) {
        *self.point.lock().unwrap_or_else(|p| p.into_inner()) = Some(point);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Whether a point is armed and not yet passed.
    pub fn pending(&self) -> bool {
        self.armed.load(Ordering::SeqCst)
    }

    /// Fails here if a test armed this point.
    pub fn check(&self, point: &'static str) -> Result<(), StoreError> {
        if !self.armed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut armed = self.point.lock().unwrap_or_else(|p| p.into_inner());
        if *armed == Some(point) {
            *armed = None;
            self.armed.store(false, Ordering::SeqCst);
            return Err(StoreError::Db(format!("injected failure at {point}")));
        }
        Ok(())
    }
}
