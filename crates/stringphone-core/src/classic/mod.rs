//! The classic format: the original Python stringphone's, byte for byte.
//!
//! The same inner shape as [`crate::v2`]: [`wire`] lays the messages out (parse and
//! emit side by side, on named offsets), `messages.rs` seals, signs, verifies and
//! opens simple messages, `discovery.rs` builds and opens introductions and replies.
//! Which format a message is in is decided in one place, [`crate::topic`]'s routing
//! point; nothing in this module knows v2 exists.

pub(crate) mod discovery;
pub(crate) mod messages;
pub mod wire;
