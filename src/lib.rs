//! Triplet Lab's page: Leptos on the main thread, rendering what the engine worker
//! (`crates/engine`) reports through `tripletlab-protocol`. It never touches a tensor.
//!
//! Everything here is for `wasm32`; natively the crate is empty (build it with Trunk).
#![cfg(target_arch = "wasm32")]

pub mod app;
