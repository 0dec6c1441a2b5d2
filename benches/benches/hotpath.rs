//! The hot path next to the bare primitives it is made of, and (feature `libsodium`)
//! libsodium's same primitives, in one run, so every overhead is a ratio of two
//! numbers measured side by side. `benches/report.py` prints the table.
//!
//! Every seal and open here is out-of-place, as the protocol's are: `encode_into`
//! copies the plaintext into the wire buffer and seals it there, `decode_into` copies
//! the ciphertext into the caller's buffer and opens it there, and libsodium's
//! `crypto_secretbox_(open_)detached` read one buffer and write another. The bare
//! `seal`/`open` rows therefore include the same copy.
//!
//! Names: group `encode` / `decode` / ..., function `BACKEND:OPERATION`, value the
//! plaintext size in bytes.

use std::hint::black_box;

use aead::{AeadInPlace, KeyInit};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use ed25519::Signature;
use signature::{Signer, Verifier};
use stringphone_core::backend::BatchEntry;
use stringphone_core::rng::NonceRng;
use stringphone_core::wire::SIMPLE_OVERHEAD;
use stringphone_core::{
    rule, Backend, DecodeMode, MemoryTrustStore, Message, SigningSeed, Topic, TopicKey,
};

const SIZES: [usize; 5] = [0, 64, 1024, 16 * 1024, 64 * 1024];
const SEED: [u8; 32] = [0x5a; 32];
const KEY: [u8; 32] = [0x17; 32];
const NONCE: [u8; 24] = [0x42; 24];

type T<B> = Topic<B, MemoryTrustStore>;

/// Alice sends, Bob trusts her and receives.
fn pair<B: Backend>() -> (T<B>, T<B>) {
    let alice = T::<B>::new(
        SigningSeed::from_bytes(SEED),
        Some(TopicKey::from_bytes(KEY)),
    );
    let mut bob = T::<B>::new(
        SigningSeed::from_bytes([0x33; 32]),
        Some(TopicKey::from_bytes(KEY)),
    );
    bob.add_participant(alice.public_key())
        .expect("trust alice");
    (alice, bob)
}

fn plaintext(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

/// A benchmark group of the hot path or its primitives.
type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Group `name`: `rows` at each plaintext size, the throughput in bytes.
fn sized_group(c: &mut Criterion, name: &str, mut rows: impl FnMut(&mut Group<'_>, usize)) {
    let mut group = c.benchmark_group(name);
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        rows(&mut group, size);
    }
    group.finish();
}

fn hot_path<B: Backend>(c: &mut Criterion, tag: &str) {
    let (mut alice, mut bob) = pair::<B>();
    let signing_key = B::signing_key(&SigningSeed::from_bytes(SEED));
    let verifying_key = B::verifying_key(&alice.public_key()).expect("valid key");
    let cipher = B::TopicCipher::new((&KEY).into());
    sized_group(c, "encode", |group, size| {
        encode_rows(group, tag, size, &mut alice, &signing_key, &cipher)
    });
    sized_group(c, "decode", |group, size| {
        let wire = alice
            .encode_with_rng(&mut NonceRng, plaintext(size))
            .unwrap();
        let mut out = vec![0u8; size];
        decode_rows(group, tag, &wire, &mut bob, &mut out);
        decode_primitive_rows::<B>(group, tag, &wire, &verifying_key, &cipher, &mut out);
    });
    message_group(c, tag, &mut alice);
}

/// `encode`'s rows at `size`: `encode_into` and `encode`, then the bare signature and
/// seal they are made of.
fn encode_rows<B: Backend>(
    encode: &mut Group<'_>,
    tag: &str,
    size: usize,
    alice: &mut T<B>,
    signing_key: &B::SigningKey,
    cipher: &B::TopicCipher,
) {
    let pt = plaintext(size);
    let mut out = vec![0u8; size + SIMPLE_OVERHEAD];
    encode.bench_with_input(
        BenchmarkId::new(format!("{tag}:encode_into"), size),
        &pt,
        |b, pt| {
            b.iter(|| {
                alice
                    .encode_into(&mut NonceRng, black_box(pt), &mut out)
                    .unwrap()
            })
        },
    );
    encode.bench_with_input(
        BenchmarkId::new(format!("{tag}:encode"), size),
        &pt,
        |b, pt| b.iter(|| alice.encode(black_box(pt)).unwrap()),
    );
    // What the signature covers: id, nonce, tag, ciphertext.
    let signed = vec![0x61u8; size + SIMPLE_OVERHEAD - 65];
    encode.bench_with_input(
        BenchmarkId::new(format!("{tag}:sign"), size),
        &signed,
        |b, m| b.iter(|| signing_key.try_sign(black_box(m)).unwrap()),
    );
    let mut buf = vec![0u8; size];
    encode.bench_with_input(
        BenchmarkId::new(format!("{tag}:seal"), size),
        &pt,
        |b, pt| {
            b.iter(|| {
                buf.copy_from_slice(black_box(pt));
                cipher
                    .encrypt_in_place_detached((&NONCE).into(), b"", &mut buf)
                    .unwrap()
            })
        },
    );
}

/// `decode`'s rows of the whole call on `wire`: `decode_into` (into `out`) and `decode`.
fn decode_rows<B: Backend>(
    decode: &mut Group<'_>,
    tag: &str,
    wire: &Vec<u8>,
    bob: &mut T<B>,
    out: &mut [u8],
) {
    let size = out.len();
    decode.bench_with_input(
        BenchmarkId::new(format!("{tag}:decode_into"), size),
        wire,
        |b, w| {
            b.iter(|| {
                bob.decode_into(black_box(w), DecodeMode::Strict, out)
                    .unwrap();
            })
        },
    );
    decode.bench_with_input(
        BenchmarkId::new(format!("{tag}:decode"), size),
        wire,
        |b, w| b.iter(|| bob.decode(black_box(w), DecodeMode::Strict).unwrap()),
    );
}

/// `decode`'s rows of the bare primitives under it, on `wire`: the signature check
/// as decode makes it and without the rule's byte checks, and the open (into `out`).
fn decode_primitive_rows<B: Backend>(
    decode: &mut Group<'_>,
    tag: &str,
    wire: &[u8],
    verifying_key: &B::VerifyingKey,
    cipher: &B::TopicCipher,
    out: &mut [u8],
) {
    let size = out.len();
    let Ok(Message::Simple(view)) = Message::parse(wire) else {
        unreachable!("a simple message")
    };
    let sig = *view.signature();
    decode.bench_with_input(
        BenchmarkId::new(format!("{tag}:verify"), size),
        &view,
        |b, v| {
            // The rule as decode applies it to a cached key: byte checks, then the
            // backend's cofactorless verification with the key decompressed once.
            b.iter(|| {
                let s = black_box(&sig);
                assert!(rule::signature_passes(s));
                verifying_key
                    .verify(v.signed_part(), &Signature::from_bytes(s))
                    .unwrap()
            })
        },
    );
    decode.bench_with_input(
        BenchmarkId::new(format!("{tag}:verify_plain"), size),
        &view,
        |b, v| {
            b.iter(|| {
                verifying_key
                    .verify(v.signed_part(), &Signature::from_bytes(black_box(&sig)))
                    .unwrap()
            })
        },
    );
    let (nonce, mac) = (*view.nonce(), *view.mac());
    decode.bench_with_input(
        BenchmarkId::new(format!("{tag}:open"), size),
        &view,
        |b, v| {
            b.iter(|| {
                out.copy_from_slice(black_box(v.ciphertext()));
                cipher
                    .decrypt_in_place_detached((&nonce).into(), b"", out, (&mac).into())
                    .unwrap()
            })
        },
    );
}

/// Group `message`: parsing, and each step of discovery.
fn message_group<B: Backend>(c: &mut Criterion, tag: &str, alice: &mut T<B>) {
    let mut other = c.benchmark_group("message");
    let wire = alice.encode_with_rng(&mut NonceRng, plaintext(64)).unwrap();
    other.bench_function(format!("{tag}:parse_simple_64"), |b| {
        b.iter(|| Message::parse(black_box(&wire)).unwrap())
    });
    other.bench_function(format!("{tag}:construct_intro"), |b| {
        let mut newcomer = T::<B>::new(SigningSeed::from_bytes([9; 32]), None);
        b.iter(|| newcomer.construct_intro().unwrap())
    });
    let mut newcomer = T::<B>::new(SigningSeed::from_bytes([9; 32]), None);
    let intro = newcomer.construct_intro().unwrap();
    other.bench_function(format!("{tag}:parse_intro"), |b| {
        b.iter(|| Message::parse(black_box(&intro)).unwrap())
    });
    let mut replier = pair::<B>().0;
    replier.add_participant(newcomer.public_key()).unwrap();
    other.bench_function(format!("{tag}:construct_reply"), |b| {
        b.iter(|| replier.construct_reply(black_box(&intro)).unwrap())
    });
    other.bench_function(format!("{tag}:parse_reply"), |b| {
        // parse_reply consumes the pending introduction: each iteration gets a fresh
        // newcomer and its reply, made outside the timing.
        b.iter_batched(
            || {
                let mut n = T::<B>::new(SigningSeed::from_bytes([9; 32]), None);
                let intro = n.construct_intro().unwrap();
                let reply = replier.construct_reply(&intro).unwrap();
                (n, reply)
            },
            |(mut n, reply)| {
                n.parse_reply(&reply).unwrap();
                n
            },
            BatchSize::SmallInput,
        )
    });
    other.finish();
}

/// 64 messages of 64 B from 64 senders, decoded together and one by one; and the bare
/// signature checks under them.
fn batch<B: Backend>(c: &mut Criterion, tag: &str) {
    const N: usize = 64;
    let mut senders: Vec<T<B>> = (0..N)
        .map(|i| {
            T::<B>::new(
                SigningSeed::from_bytes([i as u8; 32]),
                Some(TopicKey::from_bytes(KEY)),
            )
        })
        .collect();
    let mut receiver = T::<B>::new(
        SigningSeed::from_bytes([0xee; 32]),
        Some(TopicKey::from_bytes(KEY)),
    );
    for s in &senders {
        receiver.add_participant(s.public_key()).unwrap();
    }
    let inbox: Vec<Vec<u8>> = senders
        .iter_mut()
        .map(|s| s.encode_with_rng(&mut NonceRng, plaintext(64)).unwrap())
        .collect();
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(N as u64));
    batch_decode_rows(&mut group, tag, &mut receiver, &inbox);
    let keys: Vec<B::VerifyingKey> = senders
        .iter()
        .map(|s| B::verifying_key(&s.public_key()).unwrap())
        .collect();
    batch_verify_rows::<B>(&mut group, tag, &keys, &inbox);
    group.finish();
}

/// `batch`'s rows of the whole call: `decode_batch` and `decode_in_place` one by one.
fn batch_decode_rows<B: Backend>(
    group: &mut Group<'_>,
    tag: &str,
    receiver: &mut T<B>,
    inbox: &[Vec<u8>],
) {
    let n = inbox.len();
    // Both decode in place, so both get a fresh copy of the inbox each iteration,
    // made outside the timing.
    group.bench_function(BenchmarkId::new(format!("{tag}:decode_batch"), n), |b| {
        b.iter_batched_ref(
            || inbox.to_vec(),
            |msgs| {
                for r in receiver.decode_batch(msgs, DecodeMode::Strict) {
                    r.unwrap();
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function(
        BenchmarkId::new(format!("{tag}:decode_one_by_one"), n),
        |b| {
            b.iter_batched_ref(
                || inbox.to_vec(),
                |msgs| {
                    for m in msgs.iter_mut() {
                        receiver.decode_in_place(m, DecodeMode::Strict).unwrap();
                    }
                },
                BatchSize::SmallInput,
            )
        },
    );
}

/// `batch`'s rows of the bare signature checks of `inbox` (signed by `keys`): in a
/// batch (where the backend batches) and one by one.
fn batch_verify_rows<B: Backend>(
    group: &mut Group<'_>,
    tag: &str,
    keys: &[B::VerifyingKey],
    inbox: &[Vec<u8>],
) {
    let n = inbox.len();
    let views: Vec<_> = inbox
        .iter()
        .map(|w| match Message::parse(w) {
            Ok(Message::Simple(v)) => v,
            _ => unreachable!("simple messages"),
        })
        .collect();
    if B::batch_eligible(&keys[0]) {
        let entries: Vec<_> = keys
            .iter()
            .zip(&views)
            .map(|(key, v)| BatchEntry {
                key,
                message: v.signed_part(),
                signature: v.signature(),
            })
            .collect();
        group.bench_function(BenchmarkId::new(format!("{tag}:verify_batch"), n), |b| {
            b.iter(|| assert!(B::verify_batch(black_box(&entries))))
        });
    }
    group.bench_function(
        BenchmarkId::new(format!("{tag}:verify_one_by_one"), n),
        |b| {
            b.iter(|| {
                for (key, v) in keys.iter().zip(&views) {
                    let s = black_box(v.signature());
                    assert!(rule::signature_passes(s));
                    key.verify(v.signed_part(), &Signature::from_bytes(s))
                        .unwrap();
                }
            })
        },
    );
}

#[cfg(feature = "libsodium")]
fn libsodium(c: &mut Criterion) {
    use stringphone_benches::sodium;
    let version = sodium::init();
    eprintln!("libsodium {version}");
    let keys = sodium::SignKeyPair::from_seed(&SEED);
    sized_group(c, "encode", |group, size| {
        libsodium_encode_rows(group, size, &keys)
    });
    sized_group(c, "decode", |group, size| {
        libsodium_decode_rows(group, size, &keys)
    });
}

/// `encode`'s libsodium rows at `size`: the wire layout built the way the original
/// does it (seal into place, sign everything after the signature), and its two parts.
#[cfg(feature = "libsodium")]
fn libsodium_encode_rows(
    encode: &mut Group<'_>,
    size: usize,
    keys: &stringphone_benches::sodium::SignKeyPair,
) {
    use stringphone_benches::sodium;
    let pt = plaintext(size);
    let mut wire = vec![0u8; size + SIMPLE_OVERHEAD];
    encode.bench_with_input(
        BenchmarkId::new("libsodium:sign+secretbox", size),
        &pt,
        |b, pt| {
            b.iter(|| {
                let (head, body) = wire.split_at_mut(SIMPLE_OVERHEAD);
                let tag = sodium::seal(&KEY, &NONCE, black_box(pt), body);
                head[105..121].copy_from_slice(&tag);
                let sig = keys.sign(&wire[65..]);
                wire[1..65].copy_from_slice(&sig);
            })
        },
    );
    let signed = vec![0x61u8; size + SIMPLE_OVERHEAD - 65];
    encode.bench_with_input(BenchmarkId::new("libsodium:sign", size), &signed, |b, m| {
        b.iter(|| keys.sign(black_box(m)))
    });
    let mut ct = vec![0u8; size];
    encode.bench_with_input(
        BenchmarkId::new("libsodium:secretbox", size),
        &pt,
        |b, pt| b.iter(|| sodium::seal(&KEY, &NONCE, black_box(pt), &mut ct)),
    );
}

/// `decode`'s libsodium rows at `size`: verify and open a message of the wire layout,
/// and each alone.
#[cfg(feature = "libsodium")]
fn libsodium_decode_rows(
    decode: &mut Group<'_>,
    size: usize,
    keys: &stringphone_benches::sodium::SignKeyPair,
) {
    use stringphone_benches::sodium;
    let mut wire = vec![0u8; size + SIMPLE_OVERHEAD];
    let tag = sodium::seal(&KEY, &NONCE, &plaintext(size), &mut wire[SIMPLE_OVERHEAD..]);
    wire[81..105].copy_from_slice(&NONCE);
    wire[105..121].copy_from_slice(&tag);
    let sig = keys.sign(&wire[65..]);
    wire[1..65].copy_from_slice(&sig);
    let mut out = vec![0u8; size];
    decode.bench_with_input(
        BenchmarkId::new("libsodium:verify+open", size),
        &wire,
        |b, w| {
            b.iter(|| {
                let w = black_box(w);
                let sig: &[u8; 64] = w[1..65].try_into().unwrap();
                assert!(sodium::verify(&keys.public, &w[65..], sig));
                let nonce: &[u8; 24] = w[81..105].try_into().unwrap();
                let tag: &[u8; 16] = w[105..121].try_into().unwrap();
                assert!(sodium::open(
                    &KEY,
                    nonce,
                    tag,
                    &w[SIMPLE_OVERHEAD..],
                    &mut out
                ));
            })
        },
    );
    decode.bench_with_input(BenchmarkId::new("libsodium:verify", size), &wire, |b, w| {
        b.iter(|| assert!(sodium::verify(&keys.public, &black_box(w)[65..], &sig)))
    });
    decode.bench_with_input(BenchmarkId::new("libsodium:open", size), &wire, |b, w| {
        b.iter(|| {
            assert!(sodium::open(
                &KEY,
                &NONCE,
                &tag,
                &black_box(w)[SIMPLE_OVERHEAD..],
                &mut out
            ))
        })
    });
}

fn benches(c: &mut Criterion) {
    hot_path::<stringphone_rustcrypto::RustCrypto>(c, "rustcrypto");
    hot_path::<stringphone_ring::Ring>(c, "ring");
    batch::<stringphone_rustcrypto::RustCrypto>(c, "rustcrypto");
    batch::<stringphone_ring::Ring>(c, "ring");
    #[cfg(feature = "libsodium")]
    libsodium(c);
}

criterion_group!(hotpath, benches);
criterion_main!(hotpath);
