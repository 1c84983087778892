"""QuinkGL over py-ipv8 (imports ipv8; load it only when real networking is used)."""

from quinkgl.transport.ipv8.community import GossipCommunity, community_id_for
from quinkgl.transport.ipv8.transport import IPv8Settings, IPv8Transport, parse_address

__all__ = ["GossipCommunity", "IPv8Settings", "IPv8Transport", "community_id_for", "parse_address"]
