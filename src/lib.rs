//! Triplet Lab in the browser: the page (Leptos, main thread) and the engine (a Web Worker that
//! owns every tensor), speaking one typed protocol.
//!
//! Everything here is for `wasm32`; natively the crate is empty (build it with Trunk).
#![cfg(target_arch = "wasm32")]

pub mod app;
pub mod engine;
pub mod protocol;
