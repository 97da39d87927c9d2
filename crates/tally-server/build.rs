//! The web app's built files are embedded in the binary: build again when they change
//! (or appear) so that `tally serve` never serves an older app than `web/dist` holds.

fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
