//! Batch decoding gives every message the verdict per-message decoding gives it:
//! honest, tampered, forged, untrusted, own, wrong-type and malformed messages in every
//! mode, and each Ed25519 edge case of `vectors/ed25519-edge.json` (or
//! `$STRINGPHONE_ED25519_VECTORS`) batched among honest signatures. The root package's
//! tests build the RustCrypto backend with its `batch` feature, so the batch path runs
//! for real; a backend without batch verification runs the per-message fallback.
//!
//! The one verdict batching can change (docs/DESIGN.md, `stringphone::protocol::batch`):
//! a signature whose signer gave its `R` a small-order component. The edge-case tests
//! recognise that class by curve arithmetic ([`batch_may_accept`]), so they hold for any
//! edge-case file of the format, including one that has such signatures; the last test
//! makes some and shows the difference.

mod common;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};
use signature::Signer;
use stringphone::protocol::batch::verify_batch;
use stringphone::protocol::{PreparedKey, Topic};
use stringphone::{
    verify_signature, Backend, DecodeMode, Error, Identity, MemoryTrustStore, PublicKey,
    SigningSeed, TopicKey,
};

type T<B> = Topic<B, MemoryTrustStore>;

fn topic<B: Backend>(seed: u8, key: Option<u8>) -> T<B> {
    T::<B>::new(
        SigningSeed::from_bytes([seed; 32]),
        key.map(|k| TopicKey::from_bytes([k; 32])),
    )
}

/// A comparable form of a decode outcome (plaintext bytes included).
fn outcome<P: std::fmt::Debug>(r: &Result<stringphone::Decoded<P>, Error>) -> String {
    format!("{r:?}")
}

/// Decodes `messages` both ways on `receiver`, and checks every result and every
/// buffer afterwards are the same.
fn same_both_ways<B: Backend>(receiver: &mut T<B>, messages: &[Vec<u8>], mode: DecodeMode) {
    let mut one_by_one = messages.to_vec();
    let expected: Vec<String> = one_by_one
        .iter_mut()
        .map(|m| outcome(&receiver.decode_in_place(m, mode)))
        .collect();
    let mut batched = messages.to_vec();
    let got: Vec<String> = receiver
        .decode_batch(&mut batched, mode)
        .iter()
        .map(outcome)
        .collect();
    assert_eq!(got.len(), messages.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "message {i} in {mode:?}");
    }
    assert_eq!(batched, one_by_one, "buffers after decoding, {mode:?}");
}

/// Honest messages from many senders, each tampered with in every field, forged
/// (signed by someone else under a trusted id), untrusted, own, wrong types.
fn suite<B: Backend>() -> (T<B>, Vec<Vec<u8>>) {
    let mut senders: Vec<T<B>> = (10..30).map(|s| topic::<B>(s, Some(1))).collect();
    let mut receiver = topic::<B>(1, Some(1));
    for s in &senders {
        receiver.add_participant(s.public_key()).unwrap();
    }
    let mut stranger = topic::<B>(99, Some(1));
    let mut wrong_key = topic::<B>(98, Some(2));
    receiver.add_participant(wrong_key.public_key()).unwrap();

    let mut messages = Vec::new();
    for (i, s) in senders.iter_mut().enumerate() {
        let honest = s.encode(vec![i as u8; i * 7]).unwrap();
        messages.push(honest.clone());
        // Tamper with the type byte, the signature's R and S halves, the id, the nonce,
        // the tag and the ciphertext, one at a time.
        for at in [0, 1, 40, 66, 90, 110, 125] {
            if at < honest.len() {
                let mut t = honest.clone();
                t[at] ^= 0x04;
                messages.push(t);
            }
        }
        messages.push(honest[..honest.len() - 1].to_vec()); // truncated
        if i % 3 == 0 {
            // Forged: a stranger's signature under this sender's id.
            let mut forged = stranger.encode(b"trust me").unwrap();
            forged[65..81].copy_from_slice(s.id().as_bytes());
            let sig = B::signing_key(&SigningSeed::from_bytes([99; 32]))
                .sign(&forged[65..])
                .to_bytes();
            forged[1..65].copy_from_slice(&sig);
            messages.push(forged);
            // S pushed past L: refused by the byte checks, never batched.
            let mut high_s = honest.clone();
            high_s[64] |= 0xf0;
            messages.push(high_s);
        }
        messages.push(honest.clone()); // a duplicate
    }
    messages.push(stranger.encode(b"who?").unwrap()); // untrusted
    messages.push(receiver.encode(b"echo").unwrap()); // our own
    messages.push(wrong_key.encode(b"other key").unwrap()); // trusted, wrong topic key
    messages.push(vec![b'x'; 130]); // unknown type
    messages.push(Vec::new());
    let mut newcomer = topic::<B>(50, None);
    let intro = newcomer.construct_intro().unwrap();
    messages.push(intro.to_vec());
    receiver.add_participant(newcomer.public_key()).unwrap();
    messages.push(receiver.construct_reply(&intro).unwrap().to_vec());
    (receiver, messages)
}

fn messages_suite<B: Backend>(_name: &str) {
    let (mut receiver, messages) = suite::<B>();
    for mode in [
        DecodeMode::Strict,
        DecodeMode::IgnoreUntrusted,
        DecodeMode::Naive,
    ] {
        same_both_ways(&mut receiver, &messages, mode);
        // Every message alone, and the honest ones in a batch of their own.
        for m in &messages {
            same_both_ways(&mut receiver, std::slice::from_ref(m), mode);
        }
    }
    // Without the topic key, and after trust changed behind the topic's back (the
    // store then disagrees with the cache, which must not be used).
    let (mut receiver, messages) = suite::<B>();
    receiver.set_topic_key(None);
    same_both_ways(&mut receiver, &messages, DecodeMode::Strict);
    let (mut receiver, messages) = suite::<B>();
    let ids: Vec<_> = receiver.participants().unwrap().map(|(id, _)| id).collect();
    let other = topic::<B>(77, Some(1)).public_key();
    use stringphone::TrustStore;
    for id in ids.iter().step_by(2) {
        receiver.trust_store_mut().insert(*id, other).unwrap();
    }
    same_both_ways(&mut receiver, &messages, DecodeMode::Strict);
}
mod messages_suite_ {
    use super::*;
    for_each_backend!(messages_suite);
}

fn batch_of_honest_messages_from_many_senders<B: Backend>(_name: &str) {
    let mut senders: Vec<T<B>> = (100..164).map(|s| topic::<B>(s, Some(1))).collect();
    let mut receiver = topic::<B>(1, Some(1));
    for s in &senders {
        receiver.add_participant(s.public_key()).unwrap();
    }
    let mut inbox: Vec<Vec<u8>> = senders
        .iter_mut()
        .map(|s| {
            s.encode([s.id().as_bytes().as_slice(), b"hi"].concat())
                .unwrap()
        })
        .collect();
    let results = receiver.decode_batch(&mut inbox, DecodeMode::Strict);
    for (r, s) in results.iter().zip(&senders) {
        match r {
            Ok(stringphone::Decoded::Message {
                sender, plaintext, ..
            }) => {
                assert_eq!(*sender, s.id());
                assert_eq!(&plaintext[..16], s.id().as_bytes());
            }
            other => panic!("{other:?}"),
        }
    }
}
mod batch_of_honest_messages_from_many_senders_ {
    use super::*;
    for_each_backend!(batch_of_honest_messages_from_many_senders);
}

// ----- the Ed25519 edge cases ----------------------------------------------------------

struct Case {
    name: String,
    public_key: [u8; 32],
    message: Vec<u8>,
    signature: [u8; 64],
    libsodium_accepts: bool,
}

/// The cases with a 32-byte key and a 64-byte signature (the others never reach a
/// verifier). An unreadable file, or one without such a case, is a failure, not a pass.
fn edge_cases() -> Vec<Case> {
    let cases: Vec<Case> = stringphone_testkit::vectors::load_edge_cases()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter_map(|c| {
            let (public_key, signature) = c.sized()?;
            Some(Case {
                name: c.name(),
                public_key,
                message: c.message,
                signature,
                libsodium_accepts: c.libsodium_accepts,
            })
        })
        .collect();
    assert!(!cases.is_empty(), "no usable edge case");
    cases
}

/// The one class of signature whose verdict a batch may change, recognised by curve
/// arithmetic: an honest key `A = a·B` (no small-order component: the only keys a
/// batch takes), a canonical `R` that is not of small order but has a small-order
/// component (`R = r·B + T`, `T` a torsion point other than the identity), a canonical
/// `S`, and `S·B − k·A − R` a small-order point other than the identity, which is what
/// `S = r + k·a` gives (`−T`). The rule refuses it (the cofactorless equation fails);
/// a batch checks `z·(S·B − k·A − R) = 0` for a random `z`, which holds when `z` is a
/// multiple of `T`'s order.
///
/// Everything else gets the same verdict batched as alone: a batch never takes a key
/// with a small-order component, an `R` of small order or not canonical, or `S ≥ L`.
fn batch_may_accept(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let r_bytes: [u8; 32] = signature[..32].try_into().expect("32 bytes");
    let s_bytes: [u8; 32] = signature[32..].try_into().expect("32 bytes");
    let (Some(a), Some(r)) = (
        CompressedEdwardsY(*public_key).decompress(),
        CompressedEdwardsY(r_bytes).decompress(),
    ) else {
        return false;
    };
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let honest_key = a.is_torsion_free() && a.compress().0 == *public_key;
    let torsioned_r = r.compress().0 == r_bytes && !r.is_small_order() && !r.is_torsion_free();
    if !(honest_key && torsioned_r) {
        return false;
    }
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(r_bytes)
            .chain_update(public_key)
            .chain_update(message)
            .finalize()
            .into(),
    );
    // S·B − k·A − R
    let residue = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-k, &a, &s) - r;
    !residue.is_identity() && residue.is_small_order()
}

fn edge_cases_batched<B: Backend>(_name: &str) {
    let cases = edge_cases();
    let signer = B::signing_key(&SigningSeed::from_bytes([5; 32]));
    let honest_key = PreparedKey::<B>::new(&signer.public_key()).unwrap();
    let honest: Vec<(Vec<u8>, [u8; 64])> = (0..3u8)
        .map(|i| (vec![i; 40], signer.sign(&[i; 40]).to_bytes()))
        .collect();

    for (m, s) in &honest {
        let key = signer.public_key().to_bytes();
        assert!(!batch_may_accept(&key, m, s), "an honest signature");
    }

    let mut everyone = Vec::new();
    let mut may_differ = 0;
    for case in &cases {
        let alone = verify_signature::<B>(
            &PublicKey::from_bytes(case.public_key),
            &case.message,
            &case.signature,
        )
        .is_ok();
        assert_eq!(alone, case.libsodium_accepts, "{}", case.name);
        // A batch may accept this one (and only this kind) where the rule refuses it.
        let either = batch_may_accept(&case.public_key, &case.message, &case.signature);
        if either {
            assert!(!alone, "the rule refuses {}", case.name);
            may_differ += 1;
        }
        let Ok(key) = PreparedKey::<B>::new(&PublicKey::from_bytes(case.public_key)) else {
            // A key the rule refuses is refused at trust time: it never reaches a batch.
            assert!(!alone, "{}", case.name);
            continue;
        };
        among_honest_signatures(&key, case, alone, either, &honest_key, &honest);
        everyone.push((key, case));
    }
    println!(
        "{} edge cases batched; {may_differ} of them a batch may accept and the rule refuses",
        everyone.len()
    );
    all_in_one_batch(&everyone, &honest_key, &honest);
}
mod edge_cases_batched_ {
    use super::*;
    for_each_backend!(edge_cases_batched);
}

/// Honest signatures, each a message and its signature by one key.
type Honest = [(Vec<u8>, [u8; 64])];

/// The case among honest signatures (of `honest_key`), before and after them: the
/// honest ones pass, and the case gets its verdict `alone` (unless a batch `may_accept`
/// it).
fn among_honest_signatures<B: Backend>(
    key: &PreparedKey<B>,
    case: &Case,
    alone: bool,
    may_accept: bool,
    honest_key: &PreparedKey<B>,
    honest: &Honest,
) {
    for position in [0, 3] {
        let mut items: Vec<_> = honest
            .iter()
            .map(|(m, s)| (honest_key, m.as_slice(), s))
            .collect();
        items.insert(position, (key, &case.message, &case.signature));
        let verdicts = verify_batch(&items);
        for (i, v) in verdicts.iter().enumerate() {
            if i == position && may_accept {
                continue;
            }
            let expected = if i == position { alone } else { true };
            assert_eq!(v.is_ok(), expected, "{} at {position}, item {i}", case.name);
        }
    }
}

/// All the cases in one batch (several chunks), with the honest ones in between: each
/// gets the rule's verdict, but those a batch may accept (which the rule refuses).
fn all_in_one_batch<B: Backend>(
    everyone: &[(PreparedKey<B>, &Case)],
    honest_key: &PreparedKey<B>,
    honest: &Honest,
) {
    let mut items = Vec::new();
    for (key, case) in everyone {
        items.push((key, case.message.as_slice(), &case.signature));
        let (m, s) = &honest[items.len() % 3];
        items.push((honest_key, m.as_slice(), s));
    }
    let verdicts = verify_batch(&items);
    for (i, ((key, message, signature), verdict)) in items.iter().zip(&verdicts).enumerate() {
        let rule = key.verify(message, signature).is_ok();
        if batch_may_accept(key.public_key().as_bytes(), message, signature) {
            assert!(!rule, "item {i} of the big batch");
        } else {
            assert_eq!(verdict.is_ok(), rule, "item {i} of the big batch");
        }
    }
}

// ----- the documented difference --------------------------------------------------------

/// A signature made with the private key `a` whose `R` carries the order-2 point: the
/// rule refuses it, a batch may accept it (docs/DESIGN.md's "signer's own R with a
/// small-order component").
fn torsioned_signature(a: Scalar, message: &[u8], salt: u8) -> ([u8; 32], [u8; 64]) {
    let public = (ED25519_BASEPOINT_POINT * a).compress();
    let r = Scalar::from_bytes_mod_order([salt.wrapping_add(3); 32]);
    let mut minus_one = [0xff; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let order_two = CompressedEdwardsY(minus_one).decompress().expect("(0, -1)");
    let big_r = (ED25519_BASEPOINT_POINT * r + order_two).compress();
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(public.as_bytes())
            .chain_update(message)
            .finalize()
            .into(),
    );
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice(s.as_bytes());
    (public.to_bytes(), sig)
}

fn the_documented_difference<B: Backend>(_name: &str) {
    let a = Scalar::from_bytes_mod_order([42; 32]);
    let signer = B::signing_key(&SigningSeed::from_bytes([5; 32]));
    let honest_key = PreparedKey::<B>::new(&signer.public_key()).unwrap();
    let mut accepted_in_batch = 0;
    for salt in 0..32u8 {
        let message = [salt; 20];
        let (public, sig) = torsioned_signature(a, &message, salt);
        let key = PreparedKey::<B>::new(&PublicKey::from_bytes(public)).unwrap();
        assert!(key.verify(&message, &sig).is_err(), "the rule refuses it");
        assert!(batch_may_accept(&public, &message, &sig), "recognised");
        let other = signer.sign(b"x").to_bytes();
        let verdicts = verify_batch(&[(&key, &message, &sig), (&honest_key, b"x", &other)]);
        assert!(verdicts[1].is_ok());
        accepted_in_batch += usize::from(verdicts[0].is_ok());
    }
    if B::batch_eligible(&B::verifying_key(&signer.public_key()).unwrap()) {
        // Passes about half the batches (the random z is even), deterministically for
        // these inputs. Only the holder of `a` could have made it.
        assert!(
            accepted_in_batch > 0 && accepted_in_batch < 32,
            "{accepted_in_batch}"
        );
    } else {
        assert_eq!(accepted_in_batch, 0, "no batching, no difference");
    }
}
mod the_documented_difference_ {
    use super::*;
    for_each_backend!(the_documented_difference);
}
