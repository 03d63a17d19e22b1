//! The pure domain: value types, commands, events, decide / evolve.
//! No I/O, no clock, no randomness: facts from outside travel in commands.

pub mod access;
pub mod calendar;
pub mod decide;
pub mod directory;
pub mod events;
pub mod model;
pub mod register;
pub mod values;

pub use decide::{Action, Command, DomainError, Policy, decide};
pub use events::{DocumentEvent, evolve, fold};
pub use model::*;

#[cfg(test)]
mod tests;
