#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tenancy_fuzz::macro_checks::macro_args(data));
