"""The on-disk index: format constants, the sharded builder and the read-only reader."""

from corpustrace.index.format import FORMAT_VERSION, Manifest, ShardInfo
from corpustrace.index.reader import Index, Shard

__all__ = ["FORMAT_VERSION", "Index", "Manifest", "Shard", "ShardInfo"]
