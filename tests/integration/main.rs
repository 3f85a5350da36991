//! End-to-end tests across crates: one test binary, one module per data-flow stage.
