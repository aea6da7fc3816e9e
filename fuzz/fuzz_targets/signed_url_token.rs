#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookrelay_fuzz::signed_url_token::run(data));
