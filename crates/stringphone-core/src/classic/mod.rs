//! The classic format (see the crate docs).

pub mod discovery;
pub mod wire;
