//! The one integration-test binary.

mod cli;
mod crash;
mod helpers;
mod http;
mod journey;
mod keys_dev;
mod ops;
mod pades;
mod pades_verify;
mod pades_visible;
mod projections;
mod rebuild;
mod schemas;
mod store;
