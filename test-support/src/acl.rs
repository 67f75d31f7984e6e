//! The ACL rule docs/production-redis.md documents for the cache's Redis user, read from that page itself, so
//! that the documentation and the tests that run with exactly that user cannot drift apart.

/// The arguments of the documented `ACL SETUSER cached-json ...` line (after the user name), with
/// `<namespace>` and `<password>` filled in: the line for one server, or with `cluster` the one
/// for a Redis Cluster (which adds `+cluster|slots`).
pub fn documented_acl_rule(cluster: bool, namespace: &str, password: &str) -> Vec<String> {
    let page = include_str!("../../docs/production-redis.md");
    let line = page
        .lines()
        .find(|line| {
            line.starts_with("ACL SETUSER cached-json ")
                && line.contains("+cluster|slots") == cluster
        })
        .expect("docs/production-redis.md documents the ACL rule on a line of its own");
    line.split_whitespace()
        .skip(3) // ACL SETUSER cached-json
        .map(|word| {
            word.replace("<password>", password)
                .replace("<namespace>", namespace)
        })
        .collect()
}
