//! The wharf command line.
fn main() {}
