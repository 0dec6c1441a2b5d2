//! Protocol v2 next to the classic format, and (feature `libsodium`) next to
//! libsodium's classic sign+secretbox / verify+open, in one run.
//!
//! v2 decoding refuses a message it has accepted before, so every decode here gets a
//! fresh message, encoded in criterion's setup (outside the timing); the classic rows
//! are timed the same way so the two are comparable.
//!
//! Names: group `v2`, function `BACKEND:OPERATION` (`classic_encode`, `v2_encode`,
//! `classic_decode`, `v2_decode`; `libsodium:sign_secretbox`, `libsodium:verify_open`),
//! value the plaintext size in bytes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use stringphone_core::rng::NonceRng;
use stringphone_core::v2::ProtocolVersion;
use stringphone_core::{Backend, DecodeMode, MemoryTrustStore, SigningSeed, Topic, TopicKey};

const SIZES: [usize; 5] = [0, 64, 1024, 16 * 1024, 64 * 1024];
const KEY: [u8; 32] = [0x17; 32];

type T<B> = Topic<B, MemoryTrustStore>;

fn pair<B: Backend>(protocol: ProtocolVersion) -> (T<B>, T<B>) {
    let mut alice = T::<B>::new(
        SigningSeed::from_bytes([0x5a; 32]),
        Some(TopicKey::from_bytes(KEY)),
    );
    let mut bob = T::<B>::new(
        SigningSeed::from_bytes([0x33; 32]),
        Some(TopicKey::from_bytes(KEY)),
    );
    alice.set_protocol(protocol);
    alice
        .set_topic_id(stringphone_core::v2::TopicId::from_name(b"bench topic"))
        .unwrap();
    bob.set_protocol(protocol);
    bob.set_topic_id(stringphone_core::v2::TopicId::from_name(b"bench topic"))
        .unwrap();
    bob.add_participant(alice.public_key())
        .expect("trust alice");
    (alice, bob)
}

fn formats<B: Backend>(c: &mut Criterion, tag: &str) {
    let mut group = c.benchmark_group("v2");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let pt: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        for (name, protocol) in [
            ("classic", ProtocolVersion::Classic),
            ("v2", ProtocolVersion::V2),
        ] {
            let (mut alice, mut bob) = pair::<B>(protocol);
            let mut wire = vec![0u8; alice.encoded_len(size)];
            group.bench_with_input(
                BenchmarkId::new(format!("{tag}:{name}_encode"), size),
                &pt,
                |b, pt| {
                    b.iter(|| {
                        alice
                            .encode_into(&mut NonceRng, black_box(pt), &mut wire)
                            .unwrap()
                    })
                },
            );
            let mut out = vec![0u8; size];
            group.bench_with_input(
                BenchmarkId::new(format!("{tag}:{name}_decode"), size),
                &pt,
                |b, pt| {
                    b.iter_batched(
                        || {
                            alice
                                .encode_into(&mut NonceRng, pt, &mut wire)
                                .map(|_| wire.clone())
                                .unwrap()
                        },
                        |w| {
                            bob.decode_into(black_box(&w), DecodeMode::Strict, &mut out)
                                .unwrap();
                        },
                        BatchSize::SmallInput,
                    )
                },
            );
        }
    }
    group.finish();
}

#[cfg(feature = "libsodium")]
fn libsodium(c: &mut Criterion) {
    use stringphone_benches::sodium;
    sodium::init();
    let pair = sodium::SignKeyPair::from_seed(&[0x5a; 32]);
    let nonce = [0x42u8; 24];
    let mut group = c.benchmark_group("v2");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let pt: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let mut ct = vec![0u8; size];
        // The classic signed part, assembled in a buffer allocated once.
        let mut signed = Vec::with_capacity(56 + size);
        group.bench_with_input(
            BenchmarkId::new("libsodium:sign_secretbox", size),
            &pt,
            |b, pt| {
                b.iter(|| {
                    let tag = sodium::seal(&KEY, &nonce, black_box(pt), &mut ct);
                    signed.clear();
                    signed.extend_from_slice(&[0u8; 16]);
                    signed.extend_from_slice(&nonce);
                    signed.extend_from_slice(&tag);
                    signed.extend_from_slice(&ct);
                    pair.sign(&signed)
                })
            },
        );
        let tag = sodium::seal(&KEY, &nonce, &pt, &mut ct);
        signed.clear();
        signed.extend_from_slice(&[0u8; 16]);
        signed.extend_from_slice(&nonce);
        signed.extend_from_slice(&tag);
        signed.extend_from_slice(&ct);
        let sig = pair.sign(&signed);
        let public = pair.public;
        let mut out = vec![0u8; size];
        group.bench_with_input(
            BenchmarkId::new("libsodium:verify_open", size),
            &signed,
            |b, signed| {
                b.iter(|| {
                    assert!(sodium::verify(&public, black_box(signed), &sig));
                    assert!(sodium::open(&KEY, &nonce, &tag, &signed[56..], &mut out));
                })
            },
        );
    }
    group.finish();
}

#[cfg(not(feature = "libsodium"))]
fn libsodium(_: &mut Criterion) {}

fn all(c: &mut Criterion) {
    formats::<stringphone_rustcrypto::RustCrypto>(c, "rustcrypto");
    formats::<stringphone_ring::Ring>(c, "ring");
    libsodium(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
