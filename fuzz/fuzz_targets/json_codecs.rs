//! Arbitrary bytes as JSON text for the serde-free codec, checked against serde.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fencelock_sim::fuzz::json_codecs(data);
});
