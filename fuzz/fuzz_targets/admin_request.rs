#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| turnstile::fuzzing::admin_request(data));
