pub mod elements;
pub mod health;
pub mod monitoring;
pub mod payments;
pub mod threeds;
pub mod tokens;
pub mod webhooks;
