//! The pieces of text every file of the store is written with: lowercase hex and
//! canonical decimal numbers.

pub(crate) fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A decimal number written the one way `format!` writes it (no sign, no leading
/// zero), that fits in a `u64`.
pub(crate) fn canonical_u64(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

pub(crate) fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// The lines of a whole store file, the first one checked to be `header` (the
/// format's name and version). Refused (the 1-based line and why) when the file does
/// not end with a newline, starts with another version of the format, or with
/// anything else.
pub(crate) fn lines_under_header<'t>(
    text: &'t str,
    header: &str,
) -> Result<Vec<&'t str>, (usize, String)> {
    let Some(body) = text.strip_suffix('\n') else {
        let line = text.split('\n').count();
        return Err((
            line,
            "the file does not end with a newline: truncated?".into(),
        ));
    };
    let lines: Vec<&str> = body.split('\n').collect();
    let name = header.rsplit_once(' ').map_or(header, |(name, _)| name);
    match lines[0] {
        first if first == header => Ok(lines),
        other if other.starts_with(&format!("{name} ")) => {
            Err((1, format!("unsupported version header {other:?}")))
        }
        _ => Err((1, format!("missing header {header:?}"))),
    }
}

/// The lines after the header (see [`lines_under_header`]), each with its 1-based
/// number.
pub(crate) fn numbered_after_header<'a, 't>(
    lines: &'a [&'t str],
) -> impl Iterator<Item = (usize, &'t str)> + 'a {
    lines.iter().enumerate().skip(1).map(|(i, l)| (i + 1, *l))
}

/// Checks the trailer `end <count>` at line `n` of a file of `total` lines: `count`
/// must be the number of `entries` read, written canonically, on the last line.
pub(crate) fn check_trailer(
    n: usize,
    total: usize,
    count: &str,
    entries: usize,
) -> Result<(), (usize, String)> {
    if canonical_u64(count) != u64::try_from(entries).ok() {
        return Err((
            n,
            format!("trailer says {count:?} entries, the file has {entries}"),
        ));
    }
    if n != total {
        return Err((n + 1, "text after the trailer".into()));
    }
    Ok(())
}

/// The refusal of a file of `total` lines that ends before its `end` trailer.
pub(crate) fn missing_trailer(total: usize) -> (usize, String) {
    (total + 1, "missing `end` trailer: truncated?".into())
}
