//! Text damaged the ways a disk, a crash or an editor damage it, for checking that a
//! store's parser refuses every variant (a store must refuse a damaged file, never
//! read it as something else).

use crate::Check;

/// Every strict prefix of `text` (a write cut short), with its length.
///
/// ```
/// let cuts: Vec<_> = stringphone_testkit::damage::truncations("ab").collect();
/// assert_eq!(cuts, [(0, ""), (1, "a")]);
/// ```
pub fn truncations(text: &str) -> impl Iterator<Item = (usize, &str)> {
    (0..text.len())
        .filter(|cut| text.is_char_boundary(*cut))
        .map(move |cut| (cut, &text[..cut]))
}

/// `text` with one lowercase hex digit changed to another (`0` to `1`, any other to
/// `0`), once for each digit at or after byte `from`, with the digit's position.
///
/// ```
/// let changes: Vec<_> = stringphone_testkit::damage::hex_digit_changes("v1 0a", 2).collect();
/// assert_eq!(changes, [(3, "v1 1a".to_string()), (4, "v1 00".to_string())]);
/// ```
pub fn hex_digit_changes(text: &str, from: usize) -> impl Iterator<Item = (usize, String)> + '_ {
    text.char_indices()
        .filter(move |(i, _)| *i >= from)
        .filter_map(move |(i, c)| {
            let other = match c {
                '0' => '1',
                '1'..='9' | 'a'..='f' => '0',
                _ => return None,
            };
            let mut damaged = text.to_owned();
            damaged.replace_range(i..i + 1, other.encode_utf8(&mut [0; 4]));
            Some((i, damaged))
        })
}

/// `parse` refuses every [`truncations`] of `text`.
///
/// ```
/// use stringphone_testkit::damage::refuses_every_truncation;
/// let strict = |t: &str| if t.ends_with("end\n") { Ok(()) } else { Err(()) };
/// assert!(refuses_every_truncation("x\nend\n", strict).is_ok());
/// let lax = |_: &str| Ok::<(), ()>(());
/// assert!(refuses_every_truncation("x\nend\n", lax).is_err());
/// ```
pub fn refuses_every_truncation<T, E>(text: &str, parse: impl Fn(&str) -> Result<T, E>) -> Check {
    match truncations(text).find(|(_, prefix)| parse(prefix).is_ok()) {
        Some((cut, _)) => Err(format!("a prefix of {cut} bytes was accepted")),
        None => Ok(()),
    }
}

/// `parse` refuses every [`hex_digit_changes`] of `text` from byte `from`.
///
/// ```
/// use stringphone_testkit::damage::refuses_every_hex_digit_change;
/// let exact = |t: &str| if t == "v1 0a" { Ok(()) } else { Err(()) };
/// assert!(refuses_every_hex_digit_change("v1 0a", 0, exact).is_ok());
/// ```
pub fn refuses_every_hex_digit_change<T, E>(
    text: &str,
    from: usize,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Check {
    match hex_digit_changes(text, from).find(|(_, damaged)| parse(damaged).is_ok()) {
        Some((i, _)) => Err(format!("a changed digit at byte {i} was accepted")),
        None => Ok(()),
    }
}
