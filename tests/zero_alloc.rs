//! The hot path allocates nothing: after a warm-up, encoding into a caller's buffer and
//! decoding into one or in place make zero heap allocations per message, counted by a
//! global allocator that counts this thread's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use stringphone::protocol::rng::NonceRng;
use stringphone::{
    DecodeMode, Decoded, FixedTrustStore, MemoryTrustStore, SigningSeed, Topic, TopicKey,
};

/// The system allocator, counting allocations made by the current thread (so the test
/// harness's other threads do not disturb the count).
struct Counting;

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with` cannot fail for a const-initialised cell without a destructor; if it
    // ever did, the allocation would simply go uncounted rather than panic here.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees (and the caller's obligations) carry over exactly; counting
// touches only a thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

const ROUNDS: usize = 50;

/// Encodes, decodes into a buffer and decodes in place, `ROUNDS` times, for every size.
fn hot_path<S: stringphone::TrustStore>(alice: &mut Topic<S>, bob: &mut Topic<S>) {
    let mut wire = vec![0u8; 4096 + 121];
    let mut copy = vec![0u8; 4096 + 121];
    let mut out = vec![0u8; 4096];
    let plaintext = vec![7u8; 4096];
    let mut round = |size: usize| {
        let n = alice
            .encode_into(&mut NonceRng, &plaintext[..size], &mut wire)
            .unwrap();
        let decoded = bob
            .decode_into(&wire[..n], DecodeMode::Strict, &mut out)
            .unwrap();
        assert!(matches!(decoded, Decoded::Message { verified: true, .. }));
        copy[..n].copy_from_slice(&wire[..n]);
        let decoded = bob
            .decode_in_place(&mut copy[..n], DecodeMode::Strict)
            .unwrap();
        assert_eq!(decoded.plaintext().unwrap(), &plaintext[..size]);
        // The other outcomes of the gate: own message, ignored, naive.
        let own = alice.decode_into(&wire[..n], DecodeMode::Strict, &mut out);
        assert!(matches!(own, Ok(Decoded::Own)));
        let naive = bob
            .decode_into(&wire[..n], DecodeMode::Naive, &mut out)
            .unwrap();
        assert!(matches!(
            naive,
            Decoded::Message {
                verified: false,
                ..
            }
        ));
        let m = bob
            .encode_into(&mut NonceRng, &plaintext[..size], &mut copy)
            .unwrap();
        let ignored = alice.decode_in_place(&mut copy[..m], DecodeMode::IgnoreUntrusted);
        assert!(matches!(ignored, Ok(Decoded::Ignored { .. })));
        // Refusals too: a forged signature.
        wire[5] ^= 1;
        assert!(bob
            .decode_into(&wire[..n], DecodeMode::Strict, &mut out)
            .is_err());
    };
    // Warm-up: seeds this thread's nonce generator, touches every lazy static.
    round(64);
    for size in [0, 1, 64, 1000, 4096] {
        // 64 B runs long enough to cross a reseed of the nonce generator (every 64 KiB
        // of nonces, two nonces a round).
        let rounds = if size == 64 { 1500 } else { ROUNDS };
        let allocated = allocations_in(|| {
            for _ in 0..rounds {
                round(size);
            }
        });
        assert_eq!(
            allocated, 0,
            "{allocated} allocations in {rounds} rounds of {size} B"
        );
    }
}

#[test]
fn no_allocation_per_message_with_the_memory_store() {
    let key = TopicKey::from_bytes([1; 32]);
    let mut alice: Topic<MemoryTrustStore> =
        Topic::new(SigningSeed::from_bytes([2; 32]), Some(key.clone()));
    let mut bob: Topic<MemoryTrustStore> = Topic::new(SigningSeed::from_bytes([3; 32]), Some(key));
    bob.add_participant(alice.public_key()).unwrap();
    hot_path(&mut alice, &mut bob);
}

#[test]
fn no_allocation_per_message_with_a_fixed_store() {
    let key = TopicKey::from_bytes([1; 32]);
    let mut alice: Topic<FixedTrustStore<4>> = Topic::with_store(
        SigningSeed::from_bytes([2; 32]),
        Some(key.clone()),
        FixedTrustStore::new(),
    );
    let mut bob: Topic<FixedTrustStore<4>> = Topic::with_store(
        SigningSeed::from_bytes([3; 32]),
        Some(key),
        FixedTrustStore::new(),
    );
    bob.add_participant(alice.public_key()).unwrap();
    hot_path(&mut alice, &mut bob);
}

#[test]
fn the_counter_counts() {
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 10])));
    assert_eq!(n, 1);
}
