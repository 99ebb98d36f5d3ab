pub mod demo;
pub mod payments;
pub mod threeds;
pub mod tokens;
