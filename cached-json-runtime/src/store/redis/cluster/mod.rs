//! A Redis Cluster's own parts: its topology (the primaries by node id, read from the nodes
//! and believed only if it covers every slot) and a breaker per primary (its shards). The
//! single server needs neither; the link (`link.rs`) routes commands for both.

pub(super) mod shards;
pub(super) mod topology;
