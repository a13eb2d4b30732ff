//! Compiles c/mixed.c with clang for the UEFI target (a PE/COFF object of the Windows target:
//! UEFI's calling convention and object format), archives it with llvm-ar and links the archive
//! into the `rust-uefi-test` image only. Host builds (cargo clippy/test --workspace) skip it.
//!
//! Environment: CLANG (default clang-19), LLVM_AR (default llvm-ar-19).
use std::env;

fn main() {
    println!("cargo::rerun-if-changed=c/mixed.c");
    println!("cargo::rerun-if-changed=../../../include/uefi_pool_alloc.h");
    println!("cargo::rerun-if-env-changed=CLANG");
    println!("cargo::rerun-if-env-changed=LLVM_AR");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("uefi") {
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("CARGO_CFG_TARGET_ARCH");
    let clang_target = match arch.as_str() {
        "x86_64" => "x86_64-unknown-windows",
        "aarch64" => "aarch64-unknown-windows",
        "x86" => "i686-unknown-windows",
        other => panic!("rust-uefi-test: no C target for {other}"),
    };
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang-19".into());
    let llvm_ar = env::var("LLVM_AR").unwrap_or_else(|_| "llvm-ar-19".into());

    let mut build = cc::Build::new();
    build
        .compiler(clang)
        .archiver(llvm_ar)
        // Every flag is ours: freestanding, no stack protector, no stack probes (no __chkstk).
        .no_default_flags(true)
        .cargo_metadata(false)
        .flag(format!("--target={clang_target}"))
        .flags([
            "-ffreestanding",
            "-fshort-wchar",
            "-fno-stack-protector",
            "-mno-stack-arg-probe",
            "-std=c11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
        ])
        .include("../../../include")
        .file("c/mixed.c");
    if arch == "x86_64" {
        build.flag("-mno-red-zone");
    }
    // Like Rust's UEFI targets, no SSE: U-Boot's x86 ports leave it off.
    if arch == "x86_64" || arch == "x86" {
        build.flag("-mgeneral-regs-only");
    }
    let objects = build.compile_intermediates();
    let library = build.create_archive("mixed", &objects);
    // Only the test app calls the C functions; size-probe must stay free of them.
    println!(
        "cargo::rustc-link-arg-bin=rust-uefi-test={}",
        library.display()
    );
}
