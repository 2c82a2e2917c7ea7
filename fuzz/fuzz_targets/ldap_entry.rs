#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| turnstile::fuzzing::ldap_entry(data));
