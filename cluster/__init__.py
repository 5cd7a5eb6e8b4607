"""Coordination between the nodes of one deployment: who owns each live interview (leases)."""

from cluster.lease import LeaseState, LeaseToken, Renewal
from cluster.leases import HeldLease, Leases
from cluster.stores import LeaseStore, MemoryLeaseStore, RedisLeaseStore

__all__ = [
    "HeldLease",
    "LeaseState",
    "LeaseStore",
    "LeaseToken",
    "Leases",
    "MemoryLeaseStore",
    "RedisLeaseStore",
    "Renewal",
]
