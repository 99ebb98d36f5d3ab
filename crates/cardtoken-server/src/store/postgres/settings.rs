use super::PgTx;
use crate::store::{Result, SettingsRepo};

impl SettingsRepo for PgTx<'_> {
    fn get_setting(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.query_opt("SELECT value FROM settings WHERE name = $1", &[&name])?.map(|r| r.get(0)))
    }

    fn insert_setting(&mut self, name: &str, value: &[u8]) -> Result<()> {
        self.execute(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &value],
        )?;
        Ok(())
    }

    fn list_settings(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = self.query(
            "SELECT name, value FROM settings WHERE left(name, length($1)) = $1 ORDER BY name",
            &[&prefix],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
