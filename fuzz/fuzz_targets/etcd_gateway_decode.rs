//! Arbitrary bytes as etcd JSON-gateway response bodies and watch lines.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fencelock_sim::fuzz::etcd_gateway_decode(data);
});
