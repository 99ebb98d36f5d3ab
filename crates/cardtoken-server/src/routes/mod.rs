pub mod demo;
pub mod tokens;
