//! congvan: an event-sourced backend for the official documents of Vietnamese
//! state agencies. See README.md and ../shared/DESIGN.md.

pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod blobs;
pub mod db;
pub mod demo;
pub mod digest;
pub mod domain;
pub mod http;
pub mod load;
pub mod migrate;
pub mod pades;
pub mod pdf;
pub mod projections;
pub mod schemas;
pub mod settings;
pub mod signing;
pub mod store;
