//! A test re-run as child processes of its own test binary, for behaviour across processes
//! (two instances of an app on one Redis). The test asks [`role`] which side it is on: the
//! parent starts the children with [`spawn`] and reads what they printed.

use std::process::{Command, Stdio};

/// The variable that tells a child its parent's argument.
const CHILD_ARG: &str = "CACHED_JSON_TEST_CHILD_ARG";

/// `Some(argument)` when this test runs as a child of [`spawn`], `None` in the parent.
pub fn role() -> Option<String> {
    std::env::var(CHILD_ARG).ok()
}

/// Runs the test `test` of this test binary in `count` child processes at once, passing each
/// `argument` (read back with [`role`]); returns what each printed on stdout, once all exited.
pub fn spawn(test: &str, count: usize, argument: &str) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test binary's path");
    let children: Vec<_> = (0..count)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", test, "--nocapture"])
                .env(CHILD_ARG, argument)
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a child test process")
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().expect("a child test process");
            String::from_utf8_lossy(&output.stdout).into_owned()
        })
        .collect()
}
