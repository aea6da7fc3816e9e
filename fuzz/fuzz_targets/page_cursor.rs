#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookrelay_fuzz::page_cursor::run(data));
