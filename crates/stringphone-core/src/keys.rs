//! Keys and identifiers: the secrets a participant holds and the public values it shares.
//!
//! Secret types ([`TopicKey`], [`SigningSeed`], [`BoxSecret`]) are zeroized on drop,
//! compare in constant time and print as `TopicKey(..)` in `Debug`: there is no way to
//! format one by accident. Their bytes are reachable only through an explicit
//! `expose_secret()`.

use core::fmt;

use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;

/// Length of a topic key, a signing seed, an Ed25519 public key and an X25519 key.
pub const KEY_LEN: usize = 32;
/// Length of a participant id: the first 16 bytes of SHA-256 of the Ed25519 public key.
pub const ID_LEN: usize = 16;

/// Why a hex string could not be read as a key or id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HexError {
    /// The string does not have exactly `expected` hex digits.
    Length {
        /// Hex digits the value needs (two per byte).
        expected: usize,
        /// Characters found (surrounding whitespace excluded).
        found: usize,
    },
    /// A character that is not a hex digit, at this byte offset of the trimmed string.
    InvalidChar {
        /// Byte offset of the offending character.
        position: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::Length { expected, found } => write!(
                f,
                "expected {expected} hex digits, found {found} characters"
            ),
            HexError::InvalidChar { position } => {
                write!(f, "not a hex digit at position {position}")
            }
        }
    }
}

impl core::error::Error for HexError {}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Reads exactly `N` bytes from `2N` hex digits; surrounding whitespace is ignored.
pub(crate) fn decode_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let s = s.trim().as_bytes();
    if s.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            found: s.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = hex_value(s[2 * i]).ok_or(HexError::InvalidChar { position: 2 * i })?;
        let lo = hex_value(s[2 * i + 1]).ok_or(HexError::InvalidChar {
            position: 2 * i + 1,
        })?;
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

fn random_bytes<const N: usize>(rng: &mut impl CryptoRngCore) -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    rng.try_fill_bytes(&mut out).map_err(|_| Error::Rng)?;
    Ok(out)
}

macro_rules! secret_key_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// Wraps 32 secret bytes.
            pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }

            /// Reads 64 hex digits (surrounding whitespace ignored).
            pub fn from_hex(hex: &str) -> Result<Self, HexError> {
                decode_hex(hex).map(Self)
            }

            /// Draws a fresh value from `rng` (exactly 32 bytes, one `try_fill_bytes` call):
            /// any `rand_core` 0.6 `CryptoRngCore` ([Randomness](crate#randomness)).
            pub fn generate_with(rng: &mut impl CryptoRngCore) -> Result<Self, Error> {
                random_bytes(rng).map(Self)
            }

            /// Draws a fresh value from the operating system's CSPRNG.
            ///
            /// # Panics
            /// Never on a working OS; if the OS has no randomness to give, this panics
            /// rather than hand out a predictable secret. Use
            #[doc = concat!("[`", stringify!($name), "::generate_with`]")]
            /// to handle that case yourself.
            #[cfg(feature = "std")]
            #[must_use = "a fresh secret that is dropped is gone: keep it or do not generate it"]
            pub fn generate() -> Self {
                Self::generate_with(&mut rand_core::OsRng)
                    .expect("the operating system's random number generator failed")
            }

            /// The secret bytes. Every use is a place the secret can leak: keep it short.
            pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        impl ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> subtle::Choice {
                self.0.ct_eq(&other.0)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.ct_eq(other).into()
            }
        }

        impl Eq for $name {}

        impl Drop for $name {
            fn drop(&mut self) {
                self.0.zeroize();
            }
        }

        impl ZeroizeOnDrop for $name {}
    };
}

secret_key_type!(
    /// The symmetric key every participant of a topic shares (XSalsa20-Poly1305 in the
    /// classic format).
    ///
    /// ```
    /// use stringphone_core::TopicKey;
    /// let key = TopicKey::from_bytes([7; 32]);
    /// assert_eq!(format!("{key:?}"), "TopicKey(..)");
    /// ```
    TopicKey
);

secret_key_type!(
    /// The 32-byte seed of a participant's Ed25519 signing key: its whole identity.
    ///
    /// ```
    /// use stringphone_core::SigningSeed;
    /// let a = SigningSeed::from_hex(&"11".repeat(32)).unwrap();
    /// assert_eq!(a, SigningSeed::from_bytes([0x11; 32]));
    /// assert_eq!(format!("{a:?}"), "SigningSeed(..)");
    /// ```
    SigningSeed
);

secret_key_type!(
    /// An X25519 secret used for one round of discovery (the newcomer's ephemeral key
    /// behind its introduction, or a replier's per-reply key).
    ///
    /// ```
    /// use stringphone_core::BoxSecret;
    /// let s = BoxSecret::from_bytes([1; 32]);
    /// assert_eq!(format!("{s:?}"), "BoxSecret(..)");
    /// ```
    BoxSecret
);

macro_rules! public_bytes_type {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Wraps the raw bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// Reads the value from hex (surrounding whitespace ignored).
            pub fn from_hex(hex: &str) -> Result<Self, HexError> {
                decode_hex(hex).map(Self)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The raw bytes, by value.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl core::str::FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                Self::from_hex(s)
            }
        }

        /// Lowercase hex.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "("))?;
                write_hex(f, &self.0)?;
                f.write_str(")")
            }
        }
    };
}

public_bytes_type!(
    /// A participant's Ed25519 public key (32 bytes): what others trust.
    ///
    /// ```
    /// use stringphone_core::PublicKey;
    /// let pk: PublicKey = "ab".repeat(32).parse().unwrap();
    /// assert_eq!(pk.to_string(), "ab".repeat(32));
    /// assert!("abc".parse::<PublicKey>().is_err());
    /// ```
    PublicKey,
    KEY_LEN
);

public_bytes_type!(
    /// A participant id: the first 16 bytes of SHA-256 of its Ed25519 public key.
    /// Messages name their sender by it.
    ///
    /// ```
    /// use stringphone_core::ParticipantId;
    /// let id = ParticipantId::from_bytes([0xa5; 16]);
    /// assert_eq!(format!("{id:?}"), format!("ParticipantId({})", "a5".repeat(16)));
    /// ```
    ParticipantId,
    ID_LEN
);

public_bytes_type!(
    /// An X25519 public key, as carried by introductions and replies.
    ///
    /// ```
    /// use stringphone_core::BoxPublicKey;
    /// assert_eq!(BoxPublicKey::from_bytes([9; 32]).as_bytes(), &[9; 32]);
    /// ```
    BoxPublicKey,
    KEY_LEN
);

impl BoxPublicKey {
    /// Every encoding, top bit cleared (X25519 ignores it), of an X25519 public key of
    /// small order: `u = 0`, `1` and `p - 1` (orders 2 and 4, on the curve and on its
    /// twist), the two `u` of the points of order 8, and `p` and `p + 1` (the
    /// non-canonical 0 and 1). An agreement with any of them is all zeros whatever the
    /// other secret (a clamped X25519 scalar is a multiple of 8), so a box sealed to
    /// one opens for anyone; libsodium refuses to build such a box. The list is
    /// libsodium's; `tests/small_order.rs` derives it from curve arithmetic.
    pub const SMALL_ORDER_ENCODINGS: [[u8; 32]; 7] = [
        // u = 0: order 2
        [0; 32],
        // u = 1: order 4
        [
            0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0,
        ],
        // order 8
        [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
            0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
            0x5f, 0x49, 0xb8, 0x00,
        ],
        // order 8
        [
            0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83,
            0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd,
            0xd0, 0x9f, 0x11, 0x57,
        ],
        // u = p - 1 = -1: order 4, on the twist
        [
            0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        // u = p (non-canonical 0)
        [
            0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        // u = p + 1 (non-canonical 1)
        [
            0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
    ];

    /// True when the key (top bit ignored) is one of
    /// [`SMALL_ORDER_ENCODINGS`](Self::SMALL_ORDER_ENCODINGS): a key no box may be
    /// sealed to or opened from. A byte comparison, no curve arithmetic; the key is
    /// public, so its time may vary.
    ///
    /// ```
    /// use stringphone_core::BoxPublicKey;
    /// assert!(BoxPublicKey::from_bytes([0; 32]).has_small_order());
    /// let mut zero_with_top_bit = [0; 32];
    /// zero_with_top_bit[31] = 0x80;
    /// assert!(BoxPublicKey::from_bytes(zero_with_top_bit).has_small_order());
    /// assert!(!BoxPublicKey::from_bytes([9; 32]).has_small_order());
    /// ```
    pub fn has_small_order(&self) -> bool {
        Self::SMALL_ORDER_ENCODINGS
            .iter()
            .any(|bad| bad[..31] == self.0[..31] && bad[31] == self.0[31] & 0x7f)
    }
}

impl ParticipantId {
    /// A short fingerprint for comparing keys out of band (read aloud, or on two
    /// screens side by side): the first 8 bytes of the id as four groups of four hex
    /// digits. `keygen`, `trust list` and the approval prompt of the command all show
    /// this same form.
    ///
    /// The id is itself a SHA-256 prefix of the public key, so two people reading the
    /// same fingerprint are looking at the same key unless someone spent about 2^32
    /// hash evaluations aiming at a collision; compare the full id where that matters.
    ///
    /// ```
    /// use stringphone_core::ParticipantId;
    /// let mut bytes = [0u8; 16];
    /// bytes[..8].copy_from_slice(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
    /// let id = ParticipantId::from_bytes(bytes);
    /// assert_eq!(id.fingerprint().to_string(), "0123-4567-89ab-cdef");
    /// ```
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        let mut f = [0u8; 8];
        f.copy_from_slice(&self.0[..8]);
        Fingerprint(f)
    }
}

/// A participant's short fingerprint; see [`ParticipantId::fingerprint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 8]);

/// `xxxx-xxxx-xxxx-xxxx`, lowercase hex.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            write_hex(f, pair)?;
        }
        Ok(())
    }
}
