//! Fuzz target: the WebSocket client-frame parser never panics, and a frame it accepts carries
//! its text as a JSON string. Input: the frame text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // tungstenite hands over text frames only after UTF-8 validation.
    if let Ok(frame) = std::str::from_utf8(data) {
        chatterbox_fuzz::ws_frame(frame);
    }
});
