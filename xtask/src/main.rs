//! Maintainer tasks of uefi-pool-alloc, run as `cargo xtask TASK` from the repository.
//!
//! The library's own build does nothing but compile: the C header is generated here, on
//! request, so that a crate depending on `uefi-pool-alloc` never builds cbindgen and no build
//! writes into the sources.

mod api;
mod edk2;
mod header;
mod objects;
mod release;
mod symbols;
mod targets;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::{env, fs};

const HEADER: &str = "include/uefi_pool_alloc.h";

const USAGE: &str =
    "usage: cargo xtask header [--check] | api | source-hash | release | symbols [DIR]
  header          regenerate include/uefi_pool_alloc.h from src/ffi.rs (written only if it changes)
  header --check  fail if include/uefi_pool_alloc.h differs from what src/ffi.rs generates
  api             print the API, one name a line: every export of src/ and capi/; fail unless
                  the header declares exactly these functions
  source-hash     print the hash of every input that shapes the release artifacts
  release         build the C library for every target into RELEASE_DIR (build/release): the
                  artifacts, the header, manifest.txt/.json; then `symbols` unless SKIP_CHECK=1
  symbols [DIR]   check the symbol hygiene and firmware fitness of a release (default
                  build/release)
  edk2-prebuilts  copy the release's artifacts into the EDK2 package with their identity member,
                  write its stamp and header copy (scripts/edk2-refresh.sh runs the release first)
  edk2-prebuilts --check   fail unless the package's prebuilts match the sources
environment: RELEASE_DIR, CARGO_TARGET_DIR of the release builds (target/release-pkg), NIGHTLY
(nightly), LLVM_SUFFIX (-19), CLANG (clang-19)";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["header"] => write_header(&repository()),
        ["header", "--check"] => check_header(&repository()),
        ["api"] => print_api(&repository()),
        ["source-hash"] => print_source_hash(&repository()),
        ["release"] => release(&repository()),
        ["symbols"] => symbols(&repository(), None),
        ["symbols", dir] => symbols(&repository(), Some(Path::new(dir))),
        ["edk2-prebuilts"] => edk2_prebuilts(&repository(), false),
        ["edk2-prebuilts", "--check"] => edk2_prebuilts(&repository(), true),
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

/// The API: every export of the Rust sources, provided the header declares exactly those.
fn api_list(root: &Path) -> Result<Vec<String>, String> {
    let sources = api::read_sources(root);
    let exports = api::exports(sources.iter().map(String::as_str));
    let header = fs::read_to_string(root.join(HEADER)).unwrap_or_default();
    let problems = api::mismatches(&exports, &api::declared(&header));
    if exports.is_empty() || !problems.is_empty() {
        for problem in &problems {
            eprintln!("xtask: {problem}");
        }
        return Err(format!("the API of src/ and capi/ and {HEADER} disagree"));
    }
    Ok(exports)
}

/// Prints a task's result, or its error, as the exit status says.
fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            if !text.is_empty() {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("xtask: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn print_api(root: &Path) -> ExitCode {
    report(api_list(root).map(|api| api.join("\n")))
}

fn print_source_hash(root: &Path) -> ExitCode {
    report(api_list(root).and_then(|api| release::source_hash(root, &api)))
}

/// A path from the environment, relative to the repository unless absolute.
pub fn env_path(root: &Path, variable: &str, default: &str) -> PathBuf {
    root.join(env::var(variable).unwrap_or_else(|_| default.to_string()))
}

fn release(root: &Path) -> ExitCode {
    if check_header(root) != ExitCode::SUCCESS {
        return ExitCode::FAILURE;
    }
    let options = release::Options {
        release_dir: env_path(root, "RELEASE_DIR", "build/release"),
        target_dir: env_path(root, "CARGO_TARGET_DIR", "target/release-pkg"),
        nightly: env::var("NIGHTLY").unwrap_or_else(|_| "nightly".to_string()),
    };
    let tools = tools::Tools::from_env();
    let result = api_list(root).and_then(|api| {
        eprintln!("release: API ({} functions): {}", api.len(), api.join(" "));
        release::run(root, &api, &options, &tools)?;
        fs::write(
            options.release_dir.join(".source-hash"),
            release::source_hash(root, &api)? + "\n",
        )
        .map_err(|e| e.to_string())?;
        Ok(api)
    });
    let api = match result {
        Ok(api) => api,
        Err(error) => return report(Err(error)),
    };
    if env::var("SKIP_CHECK").as_deref() == Ok("1") {
        return ExitCode::SUCCESS;
    }
    eprintln!("release: checking symbols");
    check_symbols(&options.release_dir, &options.target_dir, &api, &tools)
}

fn symbols(root: &Path, dir: Option<&Path>) -> ExitCode {
    let release = dir.map_or_else(|| root.join("build/release"), |dir| root.join(dir));
    let target_dir = env_path(root, "CARGO_TARGET_DIR", "target/release-pkg");
    match api_list(root) {
        Ok(api) => check_symbols(&release, &target_dir, &api, &tools::Tools::from_env()),
        Err(error) => report(Err(error)),
    }
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

fn check_symbols(
    release: &Path,
    target_dir: &Path,
    api: &[String],
    tools: &tools::Tools,
) -> ExitCode {
    let all: Vec<&'static targets::Target> = targets::TARGETS.iter().collect();
    match symbols::check(release, &all, api, tools, target_dir) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => report(Err(error)),
    }
}

fn edk2_prebuilts(root: &Path, check_only: bool) -> ExitCode {
    let result = api_list(root).and_then(|api| {
        if check_only {
            edk2::check(root, &api)
        } else {
            edk2::refresh(
                root,
                &edk2::release_dir(root),
                &api,
                &tools::Tools::from_env(),
            )
        }
    });
    report(result.map(|()| String::new()))
}
