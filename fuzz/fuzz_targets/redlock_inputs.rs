//! Arbitrary bytes as a Redlock configuration and a sequence of inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fencelock_sim::fuzz::redlock_inputs(data);
});
