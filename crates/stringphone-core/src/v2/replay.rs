//! Replay protection for v2: one sliding window of counters per sender.
//!
//! Every v2 message carries its sender's counter, which only moves forward (across
//! epochs, sessions and restarts). A receiver accepts each counter at most once:
//! anything above the highest counter seen is new; anything within [`WINDOW`] below it
//! is accepted once, so messages may arrive out of order; anything older is refused.
//! The window only moves after the message's signature and its decryption both
//! passed ([`ReplayWindow::check`] does not change it; [`ReplayWindow::accept`] does).
//!
//! # Surviving restarts
//! The window lives in memory; what survives a restart is a *mark* per sender kept in
//! the trust store ([`crate::TrustStore::save_mark`]): "every counter below this may
//! have been accepted". A receiver never accepts a counter at or above its stored
//! mark without first storing a higher one, `RECEIVER_BLOCK` ahead, so a store is
//! written once per block of messages per sender, not per message. After a restart
//! the window starts at the stored mark: nothing accepted before the crash can be
//! replayed, at the price of refusing (at most a block of) counters below the mark
//! that had not arrived yet.

/// How far below the highest counter seen a counter is still accepted (once).
pub const WINDOW: u64 = 128;

/// Counters a receiver stores ahead of the highest it accepted, per sender.
pub const RECEIVER_BLOCK: u64 = 256;

/// Counters a sender reserves (and stores) ahead of the ones it has used.
pub const SENDER_BLOCK: u64 = 1024;

/// The highest counter a receiver accepts. Above it, the mark stored ahead
/// (`counter + 1 + RECEIVER_BLOCK`) would not fit in a `u64`, so no mark could cover
/// the counter and a restart would accept it again. Senders stop lower still: a sender
/// reserves `SENDER_BLOCK` counters ahead, so its last counter is
/// `u64::MAX - SENDER_BLOCK`.
pub const LAST_COUNTER: u64 = u64::MAX - RECEIVER_BLOCK - 1;

// The mark stored ahead of the last counter fits, and honest senders stop below it.
const _: () = assert!(LAST_COUNTER.checked_add(1 + RECEIVER_BLOCK).is_some());
const _: () = assert!(u64::MAX - SENDER_BLOCK <= LAST_COUNTER);

/// Why a counter is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// This counter was accepted before.
    Seen,
    /// Older than the window (or below the mark restored after a restart): it may have
    /// been accepted before, and there is no record left to tell.
    TooOld,
    /// Above [`LAST_COUNTER`]: no sender of this library uses it, and no stored mark
    /// could keep it from being replayed after a restart.
    OutOfRange,
}

/// The counters accepted from one sender.
///
/// ```
/// use stringphone_core::v2::replay::{Replay, ReplayWindow, WINDOW};
/// let mut w = ReplayWindow::starting_at(0);
/// assert!(w.check(5).is_ok());
/// w.accept(5);
/// assert_eq!(w.check(5), Err(Replay::Seen));
/// assert!(w.check(3).is_ok()); // out of order, within the window
/// w.accept(200);
/// assert_eq!(w.check(200 - WINDOW), Err(Replay::TooOld));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Every counter below `floor` is refused.
    floor: u64,
    /// The highest counter accepted, if any since `floor` was set.
    top: Option<u64>,
    /// Bit `i` set: counter `top - i` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// A window that refuses every counter below `floor` (0 for a sender never seen,
    /// the stored mark after a restart).
    #[must_use]
    pub const fn starting_at(floor: u64) -> Self {
        ReplayWindow {
            floor,
            top: None,
            seen: 0,
        }
    }

    /// The lowest counter that could still be accepted.
    #[must_use]
    pub fn floor(&self) -> u64 {
        match self.top {
            Some(top) => self.floor.max(top.saturating_sub(WINDOW - 1)),
            None => self.floor,
        }
    }

    /// The highest counter accepted so far.
    #[must_use]
    pub fn top(&self) -> Option<u64> {
        self.top
    }

    /// Whether `counter` would be accepted. Changes nothing.
    pub fn check(&self, counter: u64) -> Result<(), Replay> {
        if counter > LAST_COUNTER {
            return Err(Replay::OutOfRange);
        }
        if counter < self.floor() {
            return Err(Replay::TooOld);
        }
        match self.top {
            Some(top) if counter <= top => {
                if self.seen & (1u128 << (top - counter)) != 0 {
                    Err(Replay::Seen)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Refuses every counter below `floor` from now on (a newcomer's floor handed over
    /// by a reply). Only ever refuses more: a lower `floor` changes nothing.
    ///
    /// ```
    /// use stringphone_core::v2::replay::{Replay, ReplayWindow};
    /// let mut w = ReplayWindow::starting_at(0);
    /// w.raise_floor(10);
    /// assert_eq!(w.check(9), Err(Replay::TooOld));
    /// w.raise_floor(3);
    /// assert_eq!(w.check(9), Err(Replay::TooOld));
    /// ```
    pub fn raise_floor(&mut self, floor: u64) {
        self.floor = self.floor.max(floor);
    }

    /// Records `counter` as accepted. Call only after [`check`](Self::check) passed
    /// and the message's signature and decryption did too.
    pub fn accept(&mut self, counter: u64) {
        match self.top {
            Some(top) if counter <= top => {
                let offset = top - counter;
                if offset < WINDOW {
                    self.seen |= 1u128 << offset;
                }
            }
            Some(top) => {
                let shift = counter - top;
                self.seen = if shift >= WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.top = Some(counter);
            }
            None => {
                self.seen = 1;
                self.top = Some(counter);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_accepted_once_in_any_order_within_the_window() {
        let mut w = ReplayWindow::starting_at(0);
        let order = [10u64, 3, 7, 11, 4, 10, 3, 12, 0];
        let mut accepted = [false; 13];
        for c in order {
            let fresh = !accepted[c as usize];
            assert_eq!(w.check(c).is_ok(), fresh, "counter {c}");
            if fresh {
                w.accept(c);
                accepted[c as usize] = true;
            }
        }
    }

    #[test]
    fn the_window_slides_and_old_counters_are_refused() {
        let mut w = ReplayWindow::starting_at(0);
        w.accept(0);
        w.accept(WINDOW - 1);
        assert_eq!(w.check(0), Err(Replay::Seen));
        w.accept(WINDOW);
        assert_eq!(w.check(0), Err(Replay::TooOld));
        assert!(w.check(1).is_ok());
        w.accept(10 * WINDOW);
        assert_eq!(w.check(WINDOW), Err(Replay::TooOld));
        assert_eq!(w.check(10 * WINDOW), Err(Replay::Seen));
        assert!(w.check(10 * WINDOW - 1).is_ok());
        assert!(w.check(LAST_COUNTER).is_ok());
    }

    #[test]
    fn counters_no_mark_can_cover_are_refused() {
        let w = ReplayWindow::starting_at(0);
        assert!(w.check(LAST_COUNTER).is_ok());
        for c in [LAST_COUNTER + 1, u64::MAX - 1, u64::MAX] {
            assert_eq!(w.check(c), Err(Replay::OutOfRange), "counter {c}");
        }
    }

    #[test]
    fn a_restored_floor_refuses_everything_below_it() {
        let w = ReplayWindow::starting_at(500);
        assert_eq!(w.check(499), Err(Replay::TooOld));
        assert!(w.check(500).is_ok());
    }

    #[test]
    fn check_changes_nothing() {
        let mut w = ReplayWindow::starting_at(0);
        w.accept(5);
        let before = w;
        let _ = w.check(6);
        let _ = w.check(5);
        assert_eq!(w, before);
    }
}
