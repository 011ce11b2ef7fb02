#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mxtls_fuzz_targets::portfolio_json(data));
