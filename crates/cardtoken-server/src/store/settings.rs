//! Deployment-wide settings kept in the database (never keys: a key check value, the schema's facts).

use super::Result;

pub trait SettingsRepo {
    fn get_setting(&mut self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `name` unless something is there already.
    fn insert_setting(&mut self, name: &str, value: &[u8]) -> Result<()>;
    /// Every setting whose name begins with `prefix`, by name.
    fn list_settings(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;
}
