"""The ipv8 community that carries QuinkGL traffic for one learning domain.

Wire messages (after ipv8's 22-byte community prefix and a 1-byte message id):

    1 Datagram  signed    nonce (u64), bytes          a whole small message
    2 Offer     signed    transfer id, size, SHA-256, chunk size
    3 Chunk     unsigned  transfer id (u64), index (u32), bytes
    4 Ack       unsigned  transfer id (u64), cumulative (u32), bitmap
    5 Done      signed    transfer id, status

Signed messages name their sender by public key; that key's hash is the peer id the rest of
QuinkGL sees.  The first address a key is verified from is frozen: a signed packet replayed from
another address is refused, as is any unsigned chunk or ack from an address other than the
peer's.  Every refusal is counted by reason.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from typing import Any

from ipv8.community import Community, CommunitySettings
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload

from quinkgl.transport.transfer import Ack, Chunk, Done, Offer

logger = logging.getLogger(__name__)

COMMUNITY_VERSION = b"quinkgl/community/1/"
HEADER = 23  # ipv8 prefix (22) + message id (1)
CHUNK_HEAD = struct.Struct(">QI")
MAX_NONCES_PER_PEER = 4096
MAX_KNOWN_KEYS = 65_536
SIGNED_BURST = 200  # signed packets one address may send at once ...
SIGNED_RATE = 200.0  # ... and per second after that (each costs a signature check)
MAX_BUCKETS = 65_536

Address = tuple[str, int]


def community_id_for(domain: str) -> bytes:
    """The 20-byte overlay id of a learning domain: domains never share an overlay."""
    return hashlib.sha1(COMMUNITY_VERSION + domain.encode("utf-8"), usedforsecurity=False).digest()


def peer_id_of(public_key_bin: bytes) -> str:
    """The peer id QuinkGL uses: hex of ipv8's member id (SHA-1 of the public key)."""
    return hashlib.sha1(public_key_bin, usedforsecurity=False).hexdigest()


@vp_compile
class DatagramPayload(VariablePayload):
    msg_id = 1
    format_list = ["Q", "raw"]  # noqa: RUF012
    names = ["nonce", "data"]  # noqa: RUF012


@vp_compile
class OfferPayload(VariablePayload):
    msg_id = 2
    format_list = ["Q", "Q", "32s", "I"]  # noqa: RUF012
    names = ["transfer_id", "size", "digest", "chunk_size"]  # noqa: RUF012


@vp_compile
class DonePayload(VariablePayload):
    msg_id = 5
    format_list = ["Q", "B"]  # noqa: RUF012
    names = ["transfer_id", "status"]  # noqa: RUF012


CHUNK_ID = 3
ACK_ID = 4


class GossipCommunity(Community):
    """Moves QuinkGL messages between the peers of one domain.

    The transport sets :attr:`on_datagram` (peer id, bytes), :attr:`on_transfer_message`
    (peer id, Offer/Chunk/Ack/Done) and reads :attr:`stats`.
    """

    def __init__(self, settings: CommunitySettings, domain: str) -> None:
        self.community_id = community_id_for(domain)
        super().__init__(settings)
        self.domain = domain
        self.on_datagram: Callable[[str, bytes], None] = lambda peer, data: None
        self.on_transfer_message: Callable[[str, Any], None] = lambda peer, msg: None
        self.stats: Counter[str] = Counter()
        self.frozen: dict[str, Address] = {}
        self._by_address: dict[Address, str] = {}
        self.keys: dict[str, bytes] = {}
        self._key_ids: OrderedDict[bytes, str] = OrderedDict()
        self._nonces: dict[str, tuple[set[int], deque[int]]] = {}
        self._logged: set[str] = set()
        self._buckets: OrderedDict[Address, tuple[float, float]] = OrderedDict()
        self.decode_map[DatagramPayload.msg_id] = self._on_datagram
        self.decode_map[OfferPayload.msg_id] = self._on_offer
        self.decode_map[DonePayload.msg_id] = self._on_done
        self.decode_map[CHUNK_ID] = self._on_chunk
        self.decode_map[ACK_ID] = self._on_ack

    # -- refusals -----------------------------------------------------------------------------

    def refuse(self, reason: str, address: Address, detail: str = "") -> None:
        """Count a dropped packet; log the first of each reason, then only count."""
        self.stats[f"refused_{reason}"] += 1
        if reason not in self._logged:
            self._logged.add(reason)
            logger.warning(
                "dropping packet from %s:%s (%s) %s; further ones are counted, not logged",
                address[0],
                address[1],
                reason,
                detail,
            )

    # -- identity -------------------------------------------------------------------------------

    def _peer_id(self, public_key_bin: bytes) -> str:
        peer_id = self._key_ids.get(public_key_bin)
        if peer_id is None:
            peer_id = peer_id_of(public_key_bin)
            self._key_ids[public_key_bin] = peer_id
            if len(self._key_ids) > MAX_KNOWN_KEYS:
                self._key_ids.popitem(last=False)
        return peer_id

    def freeze(self, peer_id: str, address: Address) -> bool:
        """Bind ``peer_id`` to ``address`` the first time; afterwards only that address is it."""
        key = (str(address[0]), int(address[1]))
        known = self.frozen.get(peer_id)
        if known is None:
            self.frozen[peer_id] = key
            self._by_address[key] = peer_id
            return True
        return known == key

    def forget(self, peer_id: str) -> None:
        """Unfreeze a peer that left, so that it may come back from a new address."""
        address = self.frozen.pop(peer_id, None)
        if address is not None:
            self._by_address.pop(address, None)
        self._nonces.pop(peer_id, None)

    def address_of(self, peer_id: str) -> Address | None:
        return self.frozen.get(peer_id)

    def _allow(self, address: Address) -> bool:
        """Token bucket per source address for signed packets: a flood costs us one dict
        lookup per packet instead of a signature check."""
        key = (str(address[0]), int(address[1]))
        now = time.monotonic()
        tokens, last = self._buckets.pop(key, (float(SIGNED_BURST), now))
        tokens = min(float(SIGNED_BURST), tokens + (now - last) * SIGNED_RATE)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return allowed

    def _verify(self, address: Address, data: bytes, payload_class: Any) -> tuple[str, Any] | None:
        if not self._allow(address):
            self.refuse("rate_limited", address)
            return None
        try:
            auth, _ = self.serializer.unpack_serializable(
                BinMemberAuthenticationPayload, data, offset=HEADER
            )
            valid, remainder = self._verify_signature(auth, data)
            payload, _ = self.serializer.unpack_serializable(
                payload_class, remainder, offset=HEADER
            )
        except Exception as exc:  # ipv8 raises assorted errors on garbage; all mean "malformed"
            self.refuse("malformed", address, f"{type(exc).__name__}")
            return None
        if not valid:
            self.refuse("bad_signature", address)
            return None
        peer_id = self._peer_id(auth.public_key_bin)
        if peer_id == self._peer_id(self.my_peer.public_key.key_to_bin()):
            self.refuse("self", address)
            return None
        if not self.freeze(peer_id, address):
            self.refuse("address_mismatch", address, f"for peer {peer_id[:12]}")
            return None
        self.keys.setdefault(peer_id, auth.public_key_bin)
        return peer_id, payload

    def _sender_of_unsigned(self, address: Address) -> str | None:
        peer_id = self._by_address.get((address[0], address[1]))
        if peer_id is None:
            self.refuse("unknown_sender", address)
        return peer_id

    # -- handlers -------------------------------------------------------------------------------

    def _on_datagram(self, address: Address, data: bytes) -> None:
        verified = self._verify(address, data, DatagramPayload)
        if verified is None:
            return
        peer_id, payload = verified
        seen, order = self._nonces.setdefault(peer_id, (set(), deque()))
        if payload.nonce in seen:
            self.refuse("replayed", address)
            return
        seen.add(payload.nonce)
        order.append(payload.nonce)
        if len(order) > MAX_NONCES_PER_PEER:
            seen.discard(order.popleft())
        self.stats["datagrams_received"] += 1
        self.on_datagram(peer_id, bytes(payload.data))

    def _on_offer(self, address: Address, data: bytes) -> None:
        verified = self._verify(address, data, OfferPayload)
        if verified is not None:
            peer_id, p = verified
            self.on_transfer_message(peer_id, Offer(p.transfer_id, p.size, p.digest, p.chunk_size))

    def _on_done(self, address: Address, data: bytes) -> None:
        verified = self._verify(address, data, DonePayload)
        if verified is not None:
            peer_id, p = verified
            self.on_transfer_message(peer_id, Done(p.transfer_id, p.status))

    def _on_chunk(self, address: Address, data: bytes) -> None:
        if len(data) < HEADER + CHUNK_HEAD.size:
            self.refuse("malformed", address, "short chunk")
            return
        peer_id = self._sender_of_unsigned(address)
        if peer_id is not None:
            transfer_id, index = CHUNK_HEAD.unpack_from(data, HEADER)
            body = memoryview(data)[HEADER + CHUNK_HEAD.size :]
            self.on_transfer_message(peer_id, Chunk(transfer_id, index, body))

    def _on_ack(self, address: Address, data: bytes) -> None:
        if len(data) < HEADER + CHUNK_HEAD.size:
            self.refuse("malformed", address, "short ack")
            return
        peer_id = self._sender_of_unsigned(address)
        if peer_id is not None:
            transfer_id, cumulative = CHUNK_HEAD.unpack_from(data, HEADER)
            bitmap = data[HEADER + CHUNK_HEAD.size :]
            self.on_transfer_message(peer_id, Ack(transfer_id, cumulative, bitmap))

    # -- sending --------------------------------------------------------------------------------

    def send_datagram(self, address: Address, nonce: int, data: bytes) -> None:
        packet = self.ezr_pack(DatagramPayload.msg_id, DatagramPayload(nonce, data))
        self.stats["bytes_sent"] += len(packet)
        self.endpoint.send(address, packet)

    def send_transfer_message(self, address: Address, message: Any) -> None:
        prefix = self.get_prefix()
        if isinstance(message, Chunk):
            packet = (
                prefix
                + bytes([CHUNK_ID])
                + CHUNK_HEAD.pack(message.transfer_id, message.index)
                + message.data
            )
        elif isinstance(message, Ack):
            packet = (
                prefix
                + bytes([ACK_ID])
                + CHUNK_HEAD.pack(message.transfer_id, message.cumulative)
                + message.bitmap
            )
        elif isinstance(message, Offer):
            payload = OfferPayload(
                message.transfer_id, message.size, message.digest, message.chunk_size
            )
            packet = self.ezr_pack(OfferPayload.msg_id, payload)
        else:
            packet = self.ezr_pack(
                DonePayload.msg_id, DonePayload(message.transfer_id, message.status)
            )
        self.stats["bytes_sent"] += len(packet)
        self.endpoint.send(address, packet)
