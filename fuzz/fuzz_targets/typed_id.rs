#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tenancy_fuzz::checks::typed_id(data));
