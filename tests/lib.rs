//! End-to-end tests across the workspace crates.
//!
//! Input: nothing but the workspace crates (every asset is generated or exported into a temporary
//! directory). Output: one integration-test binary, `integration/main.rs`, with one module per
//! data-flow stage (`assets_to_dataset`, `dataset_to_loader`). This library is empty.
