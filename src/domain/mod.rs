//! The pure domain: value types, commands, events, decide / evolve.
//! No I/O, no clock, no randomness: facts from outside travel in commands.

pub mod calendar;
pub mod values;
