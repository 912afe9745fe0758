#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tenancy_fuzz::checks::api_key(data));
