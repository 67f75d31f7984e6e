//! The attribute's compile-time contract: every supported shape compiles (and runs), every
//! misuse is a compile error with a clear, spanned message.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("pass/*.rs");
    cases.compile_fail("fail/*.rs");
}
