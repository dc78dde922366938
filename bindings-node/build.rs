//! Sets up linking for a Node.js addon.
fn main() {
    napi_build::setup();
}
