#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookrelay_fuzz::webhook_verify::run(data));
