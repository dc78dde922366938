//! Arbitrary bytes through the RESP2 decoder.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fencelock_sim::fuzz::resp_decode(data);
});
