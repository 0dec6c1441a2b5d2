//! Output over semihosting, without `core::fmt` (its code would count in the flash
//! figure this firmware reports).

use cortex_m_semihosting::hio;

/// Writes `parts` on the host's stdout; output is best effort.
pub fn put(text: &str) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(text.as_bytes());
    }
}

/// Writes `n` in decimal (32 bits: 64-bit division would pull in 860 bytes of
/// `compiler_builtins`).
pub fn num(n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    put(core::str::from_utf8(&digits[at..]).unwrap_or("?"));
}

/// Writes `n` right-aligned in `width` columns.
pub fn num_padded(n: u32, width: usize) {
    let mut len = 1;
    let mut rest = n / 10;
    while rest > 0 {
        len += 1;
        rest /= 10;
    }
    for _ in len..width {
        put(" ");
    }
    num(n);
}
