//! Illegal moves of the state machine do not compile. Each case in `tests/ui` has its expected
//! compiler output committed next to it; regenerate with `TRYBUILD=overwrite cargo test --test
//! compile_fail` and review the diff (the toolchain is pinned so the output is stable).

#[test]
fn illegal_transitions_do_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
