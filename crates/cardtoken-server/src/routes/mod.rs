pub mod demo;
pub mod elements;
pub mod monitoring;
pub mod payments;
pub mod shop;
pub mod threeds;
pub mod tokens;
pub mod webhooks;
