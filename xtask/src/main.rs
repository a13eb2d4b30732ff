//! Maintainer tasks of uefi-pool-alloc, run as `cargo xtask TASK` from the repository.
//!
//! The library's own build does nothing but compile: the C header is generated here, on
//! request, so that a crate depending on `uefi-pool-alloc` never builds cbindgen and no build
//! writes into the sources.

mod api;
mod header;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::{env, fs};

const HEADER: &str = "include/uefi_pool_alloc.h";

const USAGE: &str = "usage: cargo xtask header [--check] | api
  header          regenerate include/uefi_pool_alloc.h from src/ffi.rs (written only if it changes)
  header --check  fail if include/uefi_pool_alloc.h differs from what src/ffi.rs generates
  api             print the API, one name a line: every export of src/ and capi/; fail unless
                  the header declares exactly these functions";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["header"] => write_header(&repository()),
        ["header", "--check"] => check_header(&repository()),
        ["api"] => print_api(&repository()),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The repository root: the xtask crate lives one level below it.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lies inside the repository")
        .to_path_buf()
}

fn print_api(root: &Path) -> ExitCode {
    let sources = api::read_sources(root);
    let exports = api::exports(sources.iter().map(String::as_str));
    let header = fs::read_to_string(root.join(HEADER)).unwrap_or_default();
    let problems = api::mismatches(&exports, &api::declared(&header));
    if exports.is_empty() || !problems.is_empty() {
        for problem in &problems {
            eprintln!("xtask: {problem}");
        }
        eprintln!("xtask: the API of src/ and capi/ and {HEADER} disagree");
        return ExitCode::FAILURE;
    }
    println!("{}", exports.join("\n"));
    ExitCode::SUCCESS
}

fn write_header(root: &Path) -> ExitCode {
    let header = header::generate(root);
    let path = root.join(HEADER);
    if fs::read(&path).ok().as_deref() == Some(header.as_bytes()) {
        eprintln!("xtask: {HEADER} is up to date");
    } else {
        fs::write(&path, header).expect("cannot write the header");
        eprintln!("xtask: wrote {HEADER}");
    }
    ExitCode::SUCCESS
}

fn check_header(root: &Path) -> ExitCode {
    let header = header::generate(root);
    let committed = fs::read_to_string(root.join(HEADER)).unwrap_or_default();
    if committed == header {
        eprintln!("xtask: {HEADER} matches src/ffi.rs");
        return ExitCode::SUCCESS;
    }
    let line = committed
        .lines()
        .zip(header.lines())
        .position(|(old, new)| old != new)
        .unwrap_or_else(|| committed.lines().count().min(header.lines().count()));
    eprintln!(
        "xtask: {HEADER} is stale (first difference at line {}): run `cargo xtask header` and commit it",
        line + 1
    );
    ExitCode::FAILURE
}
