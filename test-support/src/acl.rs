//! The ACL rule the README documents for the cache's Redis user, read from README.md itself, so
//! that the documentation and the tests that run with exactly that user cannot drift apart.

/// The arguments of the README's `ACL SETUSER cached-json ...` line (after the user name), with
/// `<namespace>` and `<password>` filled in: the line for one server, or with `cluster` the one
/// for a Redis Cluster (which adds `+cluster|slots`).
pub fn documented_acl_rule(cluster: bool, namespace: &str, password: &str) -> Vec<String> {
    let readme = include_str!("../../README.md");
    let line = readme
        .lines()
        .find(|line| {
            line.starts_with("ACL SETUSER cached-json ")
                && line.contains("+cluster|slots") == cluster
        })
        .expect("README.md documents the ACL rule on a line of its own");
    line.split_whitespace()
        .skip(3) // ACL SETUSER cached-json
        .map(|word| {
            word.replace("<password>", password)
                .replace("<namespace>", namespace)
        })
        .collect()
}
