//! The byte edits both structured models make to a field of a message they built.
//!
//! A field is a byte range `(start, end)` of the message, already cut to what the
//! message still has (edits before may have shortened it); an edit of an empty field
//! changes nothing.

/// Flips bit `bit % 8` of the field's byte `index` (modulo the field's length).
pub(crate) fn flip(msg: &mut [u8], (start, end): (usize, usize), index: u16, bit: u8) {
    if start < end {
        msg[start + usize::from(index) % (end - start)] ^= 1 << (bit % 8);
    }
}

/// Sets the field's byte `index` (modulo the field's length) to `value`.
pub(crate) fn set(msg: &mut [u8], (start, end): (usize, usize), index: u16, value: u8) {
    if start < end {
        msg[start + usize::from(index) % (end - start)] = value;
    }
}

/// Overwrites the field from its start with as many of `bytes` as fit.
pub(crate) fn overwrite(msg: &mut [u8], (start, end): (usize, usize), bytes: &[u8]) {
    let n = bytes.len().min(end.saturating_sub(start));
    msg[start..start + n].copy_from_slice(&bytes[..n]);
}
