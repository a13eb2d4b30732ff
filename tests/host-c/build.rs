//! Compiles api_test.c against the committed header, as a C user of the library would.
fn main() {
    println!("cargo:rerun-if-changed=api_test.c");
    println!("cargo:rerun-if-changed=../../include/uefi_pool_alloc.h");
    cc::Build::new()
        .file("api_test.c")
        .include("../../include")
        .std("c11")
        .flag("-Wall")
        .flag("-Wextra")
        .flag("-Werror")
        .flag("-pedantic")
        .compile("api_test");
}
