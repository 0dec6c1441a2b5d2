//! v2 messages (`m`): sealed under the sender's per-epoch, per-session key with its
//! counter as nonce, and signed over a digest; the receiver's replay window.

use super::capacity::Capacity;
use aead::{AeadInPlace, KeyInit};
use rand_core::CryptoRngCore;

use super::replay::{Replay, ReplayWindow, RECEIVER_BLOCK, SENDER_BLOCK};
use super::state::{OwnKey, SenderKey, SenderRecord};
use super::wire::{self, Body, V2Message, V2Type, HEADER_LEN, MESSAGE_OVERHEAD, SIGNATURE_LEN};
use super::{associated_data, message_key, nonce, signed_string, TopicId};
use crate::backend::{Backend, Identity};
use crate::signatures::sign;
use crate::topic::SenderTrust;
use crate::trust::MarkSlot;
use crate::{DecodeMode, Decoded, Error, ParticipantId, Topic, TrustStore};

/// A v2 message that passed every check but decryption and the replay window's last
/// word; what [`Topic::finish_v2`] needs to open it.
pub(crate) struct OpenV2 {
    pub(crate) topic: TopicId,
    pub(crate) sender: ParticipantId,
    pub(crate) verified: bool,
    pub(crate) epoch: u32,
    pub(crate) session: [u8; 16],
    pub(crate) counter: u64,
    pub(crate) header: [u8; HEADER_LEN],
    pub(crate) tag: [u8; wire::TAG_LEN],
    /// The sender's replay record as the gate read it (from memory or the store), so
    /// that opening does not read the store again.
    pub(crate) record: SenderRecord,
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// The next counter of this identity, reserving (and storing) a new block first when
    /// the last one is used up. A failure to store changes nothing.
    pub(crate) fn take_counter(&mut self) -> Result<u64, Error> {
        let reserved = match self.v2.reserved {
            Some(r) => r,
            None => {
                let mark = self
                    .trust_store()
                    .load_mark(&MarkSlot::OwnCounter)?
                    .unwrap_or(0);
                self.v2.next_counter = self.v2.next_counter.max(mark);
                self.v2.reserved = Some(mark);
                mark
            }
        };
        let counter = self.v2.next_counter;
        if counter >= reserved {
            let mark = counter
                .checked_add(SENDER_BLOCK)
                .ok_or(Error::CounterExhausted)?;
            self.trust_store_mut()
                .save_mark(MarkSlot::OwnCounter, mark)?;
            self.v2.reserved = Some(mark);
        }
        self.v2.next_counter = counter + 1;
        Ok(counter)
    }

    /// Seals and signs a v2 message into `out`; returns its length,
    /// `plaintext.len() + 127`. Draws 16 bytes from `rng` once per topic instance (the
    /// session value) and nothing per message.
    pub(crate) fn encode_v2_into(
        &mut self,
        rng: &mut impl CryptoRngCore,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.resume()?;
        let topic = self.v2.topic_id()?;
        if self.topic_key().is_none() {
            return Err(Error::MissingTopicKey);
        }
        let len = MESSAGE_OVERHEAD + plaintext.len();
        let out = crate::wire::prefix_mut(out, len)?;
        let session = self.v2.session(rng)?;
        let epoch = self.v2.group.current.number;
        let stale = !matches!(&self.v2.own_key, Some(k) if k.epoch == epoch);
        if stale {
            let topic_key = self.topic_key().ok_or(Error::MissingTopicKey)?;
            let epoch_id = self.v2.group.current.id;
            let key = message_key::<B>(&topic, topic_key, &epoch_id, &self.id(), &session);
            self.v2.own_key = Some(OwnKey { epoch, key });
        }
        let counter = self.take_counter()?;
        let key = match &self.v2.own_key {
            Some(k) => B::MessageCipher::new((&*k.key).into()),
            None => return Err(Error::MissingTopicKey),
        };

        let id = self.id();
        let (header, rest) = out.split_at_mut(HEADER_LEN);
        let suite = topic.suite().byte();
        wire::write_header(
            header,
            V2Type::Message,
            suite,
            epoch,
            &id,
            &session,
            counter,
        );
        let header: &[u8; HEADER_LEN] = (&*header).try_into().map_err(|_| Error::EncryptFailed)?;
        let ad = associated_data(&topic, header);
        let (body, tail) = rest.split_at_mut(plaintext.len());
        body.copy_from_slice(plaintext);
        let tag = key
            .encrypt_in_place_detached(&nonce(counter).into(), &ad, body)
            .map_err(|_| Error::EncryptFailed)?;
        tail[..wire::TAG_LEN].copy_from_slice(&tag);
        let signature = sign(
            self.identity(),
            &signed_string(&topic, &out[..len - SIGNATURE_LEN]),
        )?;
        out[len - SIGNATURE_LEN..].copy_from_slice(&signature);
        Ok(len)
    }

    /// The checks of a v2 message before decryption, in order: own id; trust (per
    /// `mode`); membership of the message's epoch and of the current one; signature
    /// (for this topic); the epoch's key; the replay window. Changes nothing.
    pub(crate) fn gate_v2(&self, m: &V2Message<'_>, mode: DecodeMode) -> Result<Gate2, Error> {
        match self.trust_v2(m, mode)? {
            Trust2::Own => Ok(Gate2::Own),
            Trust2::Ignored(sender) => Ok(Gate2::Ignored(sender)),
            Trust2::Naive(sender) => self.after_trust_v2(m, sender, None::<fn() -> _>),
            Trust2::Verify { sender, key } => {
                let topic = self.v2.topic_for(m)?;
                let verify = || {
                    self.verify_trusted(
                        &sender,
                        &key,
                        &signed_string(&topic, m.signed_part()),
                        m.signature(),
                    )
                };
                self.after_trust_v2(m, sender, Some(verify))
            }
        }
    }

    /// The first checks of a v2 message: its type, own id, trust (per `mode`). What
    /// they depend on does not change while messages are decoded, so a batch runs
    /// them for all its messages before any is opened.
    pub(crate) fn trust_v2(&self, m: &V2Message<'_>, mode: DecodeMode) -> Result<Trust2, Error> {
        self.v2.topic_for(m)?;
        let h = m.header();
        let Body::Message { .. } = m.body() else {
            return Err(match h.message_type() {
                V2Type::Introduction => Error::Introduction,
                V2Type::Reply => Error::IntroductionReply,
                _ => Error::Rekey,
            });
        };
        let sender = h.sender_id();
        if sender == self.id() {
            return Ok(Trust2::Own);
        }
        Ok(match self.sender_trust(sender, mode)? {
            SenderTrust::Naive => Trust2::Naive(sender),
            SenderTrust::Ignored => Trust2::Ignored(sender),
            SenderTrust::Verify(key) => Trust2::Verify { sender, key },
        })
    }

    /// The checks after trust, in order: membership of the message's epoch and the
    /// signature (`verify`, `None` in naive mode); the epoch's key; the replay window.
    /// These depend on what earlier messages changed (the window, the grace period of
    /// the previous epoch), so a batch runs them in order, message by message.
    pub(crate) fn after_trust_v2(
        &self,
        m: &V2Message<'_>,
        sender: ParticipantId,
        verify: Option<impl FnOnce() -> Result<(), Error>>,
    ) -> Result<Gate2, Error> {
        let topic = self.v2.topic_for(m)?;
        let h = m.header();
        let Body::Message { tag, .. } = m.body() else {
            return Err(Error::Rekey);
        };
        let verified = verify.is_some();
        if let Some(verify) = verify {
            if let Some(members) = self.v2.members_of(h.epoch()) {
                if !members.contains(&sender) {
                    return Err(Error::NotAMember(sender));
                }
            }
            // The grace period is for members still in flight on the previous epoch,
            // not for a participant the current epoch left out: once rotated out, it
            // is not heard in any epoch.
            if !self.is_current_member(&sender) {
                return Err(Error::NotAMember(sender));
            }
            verify()?;
        }
        if self.epoch_key(h.epoch()).is_none() {
            return Err(match self.topic_key() {
                None => Error::MissingTopicKey,
                Some(_) => Error::UnknownEpoch(h.epoch()),
            });
        }
        let record = self.window_of(&sender)?;
        record.window.check(h.counter()).map_err(|why| match why {
            Replay::OutOfRange => Error::CounterOutOfRange {
                sender,
                counter: h.counter(),
            },
            Replay::Seen | Replay::TooOld => Error::Replayed {
                sender,
                counter: h.counter(),
                too_old: why == Replay::TooOld,
            },
        })?;
        Ok(Gate2::Open(OpenV2 {
            topic,
            sender,
            verified,
            epoch: h.epoch(),
            session: *h.session(),
            counter: h.counter(),
            header: *h.as_bytes(),
            tag: *tag,
            record,
        }))
    }

    /// The key and id of epoch `number`, if this topic holds it (the current one, or
    /// the previous one during its grace period).
    fn epoch_key(&self, number: u32) -> Option<(&crate::TopicKey, [u8; 32])> {
        let group = &self.v2.group;
        if number == group.current.number {
            self.topic_key().map(|k| (k, group.current.id))
        } else {
            group
                .previous
                .as_ref()
                .filter(|p| p.number == number)
                .map(|p| (&p.key, p.id))
        }
    }

    /// The replay window of `sender`: the one in memory, or a fresh one starting at the
    /// higher of the sender's mark in the store and its floor in the group state.
    fn window_of(&self, sender: &ParticipantId) -> Result<SenderRecord, Error> {
        if let Some(r) = self.v2.senders.get(sender) {
            return Ok(*r);
        }
        // A sender this topic has no room to track is refused before anything is
        // opened or stored: a window it could not keep would let its messages replay.
        self.v2.senders.check_room()?;
        let mark = self
            .trust_store()
            .load_mark(&MarkSlot::Received(*sender))?
            .unwrap_or(0);
        let floor = self.v2.group.floors.get(sender).copied().unwrap_or(0);
        Ok(SenderRecord {
            window: ReplayWindow::starting_at(mark.max(floor)),
            // Nothing of this instance's own covers any counter yet (see SenderRecord).
            stored_mark: 0,
        })
    }

    /// Opens a v2 message that passed [`gate_v2`](Self::gate_v2): decrypts `buffer` in
    /// place, then stores the sender's mark ahead if the counter reaches it (verified
    /// senders only), and only then moves the window. A message that does not decrypt
    /// changes nothing, not even the stored mark; one whose mark cannot be stored is
    /// sealed back, so the caller's buffer holds what it held before.
    #[inline(never)]
    pub(crate) fn finish_v2<P: AsMut<[u8]>>(
        &mut self,
        open: OpenV2,
        mut buffer: P,
    ) -> Result<Decoded<P>, Error> {
        let mut record = open.record;
        let cipher = self.sender_cipher(&open)?;
        let ad = associated_data(&open.topic, &open.header);
        cipher
            .decrypt_in_place_detached(
                &nonce(open.counter).into(),
                &ad,
                buffer.as_mut(),
                (&open.tag).into(),
            )
            .map_err(|_| Error::DecryptFailed)?;
        if open.verified && open.counter >= record.stored_mark {
            record.stored_mark = self.store_mark_ahead(&open, &cipher, &ad, buffer.as_mut())?;
        }
        if open.verified {
            record.window.accept(open.counter);
            // Room was checked by the gate (`window_of`), and nothing since removed it.
            self.v2.senders.insert(open.sender, record)?;
            self.count_current_epoch_message(open.epoch);
        }
        Ok(Decoded::Message {
            sender: open.sender,
            verified: open.verified,
            plaintext: buffer,
        })
    }

    /// The cipher of `open`'s sender for its epoch and session: cached, or derived
    /// (and cached, for a verified sender: at most one key per trusted participant).
    fn sender_cipher(&mut self, open: &OpenV2) -> Result<B::MessageCipher, Error> {
        let cached = self
            .v2
            .sender_keys
            .get(&open.sender)
            .filter(|k| k.epoch == open.epoch && k.session == open.session)
            .map(|k| B::MessageCipher::new((&*k.key).into()));
        if let Some(cipher) = cached {
            return Ok(cipher);
        }
        let (epoch_key, epoch_id) = self
            .epoch_key(open.epoch)
            .ok_or(Error::UnknownEpoch(open.epoch))?;
        let key = message_key::<B>(
            &open.topic,
            epoch_key,
            &epoch_id,
            &open.sender,
            &open.session,
        );
        let cipher = B::MessageCipher::new((&*key).into());
        if open.verified {
            if self.v2.sender_keys.is_full() && !self.v2.sender_keys.contains_key(&open.sender) {
                // A cache: a full one makes room rather than refusing.
                self.v2.sender_keys.remove_first();
            }
            let _ = self.v2.sender_keys.insert(
                open.sender,
                SenderKey {
                    epoch: open.epoch,
                    session: open.session,
                    key,
                },
            );
        }
        Ok(cipher)
    }

    /// Stores the sender's mark a block ahead of `open`'s counter and returns it. If
    /// the store fails, `buffer` (decrypted) is sealed back: same key, nonce and
    /// header give back the exact ciphertext and tag the caller handed in.
    fn store_mark_ahead(
        &mut self,
        open: &OpenV2,
        cipher: &B::MessageCipher,
        ad: &[u8],
        buffer: &mut [u8],
    ) -> Result<u64, Error> {
        let mark = open
            .counter
            .saturating_add(1)
            .saturating_add(RECEIVER_BLOCK);
        if let Err(e) = self
            .trust_store_mut()
            .save_mark(MarkSlot::Received(open.sender), mark)
        {
            let _ = cipher.encrypt_in_place_detached(&nonce(open.counter).into(), ad, buffer);
            return Err(e.into());
        }
        Ok(mark)
    }

    /// Counts down the previous epoch's grace period. Dropping the previous epoch is
    /// saved to the store; if that fails it stays (at zero) and is dropped on a later
    /// message, so the message itself is not refused for it.
    fn count_current_epoch_message(&mut self, epoch: u32) {
        if epoch != self.v2.group.current.number {
            return;
        }
        let Some(p) = &mut self.v2.group.previous else {
            return;
        };
        p.remaining = p.remaining.saturating_sub(1);
        if p.remaining == 0 {
            let _ = self.change_group(|t| {
                t.v2.group.previous = None;
                Ok(())
            });
        }
    }
}

/// The outcome of [`Topic::trust_v2`].
pub(crate) enum Trust2 {
    Own,
    Ignored(ParticipantId),
    /// Naive mode: no trust, no signature.
    Naive(ParticipantId),
    /// A trusted sender, whose signature is to be verified.
    Verify {
        sender: ParticipantId,
        key: crate::PublicKey,
    },
}

/// The outcome of [`Topic::gate_v2`].
pub(crate) enum Gate2 {
    Own,
    Ignored(ParticipantId),
    Open(OpenV2),
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// Stores exact v2 marks for a clean shutdown: this identity's next counter, and
    /// for each sender one past the highest counter accepted. While running, marks are
    /// kept ahead (a block per sender) so that a crash never reopens a replay; storing
    /// exact marks on the way out means a clean restart refuses nothing that had not
    /// arrived yet. The topic stays usable: it stores marks ahead again as needed.
    pub fn save_replay_marks(&mut self) -> Result<(), Error> {
        if self.v2.reserved.is_some() {
            let next = self.v2.next_counter;
            self.trust_store_mut()
                .save_mark(MarkSlot::OwnCounter, next)?;
            self.v2.reserved = Some(next);
        }
        for index in 0..self.v2.senders.len() {
            let Some((id, record)) = self.v2.senders.get_index(index) else {
                break;
            };
            let (id, top) = (*id, record.window.top());
            if let Some(top) = top {
                let exact = top.saturating_add(1);
                self.trust_store_mut()
                    .save_mark(MarkSlot::Received(id), exact)?;
                if let Some(record) = self.v2.senders.get_mut(&id) {
                    record.stored_mark = exact;
                }
            }
        }
        Ok(())
    }
}

/// How a v2 message goes on after its checks.
pub(crate) enum V2Route<P> {
    /// Settled without decryption: our own, or ignored.
    Done(Decoded<P>),
    /// To be decrypted.
    Open(OpenV2),
}

/// Where the ciphertext of a v2 message of `len` bytes lies: between the header and
/// the tag. Only called on parsed messages, which are at least that long.
pub(crate) fn v2_ciphertext_range(len: usize) -> core::ops::Range<usize> {
    use crate::v2::wire::{HEADER_LEN, SIGNATURE_LEN, TAG_LEN};
    HEADER_LEN..len.saturating_sub(SIGNATURE_LEN + TAG_LEN).max(HEADER_LEN)
}

impl<B: Backend, S: TrustStore, I: Identity, C: Capacity> Topic<B, S, I, C> {
    /// [`decode_into`](Topic::decode_into) of a v2 message. Never inlined: what a v2
    /// message needs between its checks and its opening is not in the frame of the
    /// classic path (on a device, both sit under a signature check's stack).
    #[inline(never)]
    pub(crate) fn decode_v2_into<'o>(
        &mut self,
        message: &[u8],
        mode: DecodeMode,
        out: &'o mut [u8],
    ) -> Result<Decoded<&'o mut [u8]>, Error> {
        // The gate's outcome is matched here, not taken from `route_v2`: its `V2Route`
        // is one more copy of it in this frame (measured at opt-level z: the v2
        // firmware's decode took 8,212 B of stack that way, over its 8 KiB; 7,660 B so).
        match self.check_v2(message, mode)? {
            Gate2::Own => Ok(Decoded::Own),
            Gate2::Ignored(sender) => Ok(Decoded::Ignored { sender }),
            Gate2::Open(open) => {
                let ciphertext = &message[v2_ciphertext_range(message.len())];
                let plaintext = crate::wire::prefix_mut(out, ciphertext.len())?;
                plaintext.copy_from_slice(ciphertext);
                self.finish_v2(open, plaintext)
            }
        }
    }

    /// [`decode_in_place`](Topic::decode_in_place) of a v2 message.
    pub(crate) fn decode_v2_in_place<'m>(
        &mut self,
        message: &'m mut [u8],
        mode: DecodeMode,
    ) -> Result<Decoded<&'m mut [u8]>, Error> {
        match self.route_v2(message, mode)? {
            V2Route::Open(open) => {
                let ciphertext = v2_ciphertext_range(message.len());
                self.finish_v2(open, &mut message[ciphertext])
            }
            V2Route::Done(done) => Ok(done),
        }
    }

    /// [`decode`](Topic::decode) of a v2 message.
    #[cfg(feature = "alloc")]
    pub(crate) fn decode_v2_vec(
        &mut self,
        message: &[u8],
        mode: DecodeMode,
    ) -> Result<Decoded<alloc::vec::Vec<u8>>, Error> {
        match self.route_v2(message, mode)? {
            V2Route::Open(open) => {
                self.finish_v2(open, message[v2_ciphertext_range(message.len())].to_vec())
            }
            V2Route::Done(done) => Ok(done),
        }
    }

    /// A v2 message's checks before decryption, for the decode calls: parse, the
    /// protocol setting, then the gate. Always inlined, so that `decode_v2_into`'s
    /// frame holds the same code it held before the checks were shared.
    #[inline(always)]
    fn check_v2(&self, bytes: &[u8], mode: DecodeMode) -> Result<Gate2, Error> {
        let message = crate::v2::wire::V2Message::parse(bytes)?;
        if !self.v2.protocol.accepts_v2() {
            return Err(self.refusal(2));
        }
        self.gate_v2(&message, mode)
    }

    /// [`check_v2`](Self::check_v2) for `decode_v2_in_place` and `decode_v2_vec`.
    /// Never inlined, like [`finish_v2`](Self::finish_v2): the gate's locals stay out
    /// of the callers' frames, which hold the buffer being opened.
    #[inline(never)]
    fn route_v2<P>(&self, bytes: &[u8], mode: DecodeMode) -> Result<V2Route<P>, Error> {
        Ok(match self.check_v2(bytes, mode)? {
            Gate2::Own => V2Route::Done(Decoded::Own),
            Gate2::Ignored(sender) => V2Route::Done(Decoded::Ignored { sender }),
            Gate2::Open(open) => V2Route::Open(open),
        })
    }
}
