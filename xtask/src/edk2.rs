//! The EDK2 package's prebuilts: the release artifacts copied into
//! `edk2-pkg/UefiPoolAllocPkg/Library/UefiPoolAllocLib/Prebuilt/<ARCH>/`, each with an identity
//! member, and the stamp header that names it.
//!
//! The stamp: H = the source hash (release::source_hash). Each prebuilt gets one extra member
//! defining the symbol `UefiPoolAllocPrebuilt_<H:16>`, holding H; the stamp names that symbol,
//! and the library's shim includes the stamp and reads the symbol. So an EDK2 build links only
//! prebuilts made by the same refresh as the stamp (a foreign or hand-copied one fails to link
//! with "undefined reference to UefiPoolAllocPrebuilt_..."), and a refresh always changes a
//! header the shim includes, so EDK2 re-archives the library even in an incremental build. The
//! stamp also records each file's SHA-256, which the check verifies, with H against the sources.

use crate::objects::Error;
use crate::release::{self, sha256};
use crate::targets::{Format, TARGETS, Target};
use crate::tools::{self, Tools};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "edk2-pkg/UefiPoolAllocPkg";
const PREBUILT: &str = "edk2-pkg/UefiPoolAllocPkg/Library/UefiPoolAllocLib/Prebuilt";
const STAMP: &str = "UefiPoolAllocPrebuilt.h";
const HEADER_COPY: &str =
    "edk2-pkg/UefiPoolAllocPkg/Include/Library/UefiPoolAllocLib/uefi_pool_alloc.h";

/// The package's file for a target: `X64/UefiPoolAlloc.lib`, `RISCV64/UefiPoolAlloc.o`, ...
fn package_file(target: &Target) -> String {
    let extension = match target.format {
        Format::Coff => "lib",
        Format::Elf => "o",
    };
    format!("{}/UefiPoolAlloc.{extension}", target.edk2_arch)
}

/// Copies the artifacts of `release` into the package with the identity member, writes the
/// stamp and the header copy, then checks the result.
pub fn refresh(root: &Path, release: &Path, api: &[String], tools: &Tools) -> Result<(), Error> {
    let hash = release::source_hash(root, api)?;
    let id = format!("UefiPoolAllocPrebuilt_{}", &hash[..16]);
    let work = release.join(".edk2-prebuilts");
    let _ = fs::remove_dir_all(&work);
    let source = work.join("id.c");
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    fs::write(
        &source,
        format!("const unsigned char {id}[65] = \"{hash}\";\n"),
    )
    .map_err(|e| e.to_string())?;
    let mut sums = String::new();
    for target in TARGETS {
        let artifact = release
            .join("lib")
            .join(target.triple)
            .join(target.artifact());
        if !artifact.exists() {
            return Err(format!(
                "{} missing (run scripts/release.sh)",
                artifact.display()
            ));
        }
        let file = package_file(target);
        let dir = work.join(target.triple);
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let built = dir.join(target.artifact());
        with_identity(target, &source, &artifact, &built, tools)?;
        let destination = root.join(PREBUILT).join(&file);
        fs::create_dir_all(destination.parent().unwrap()).map_err(|e| e.to_string())?;
        fs::copy(&built, &destination).map_err(|e| e.to_string())?;
        let data = fs::read(&destination).map_err(|e| e.to_string())?;
        let _ = writeln!(sums, "  {}  {file}", sha256(&data));
        eprintln!("edk2-prebuilts: Prebuilt/{file} {} bytes", data.len());
    }
    fs::remove_dir_all(&work).map_err(|e| e.to_string())?;
    let rustc = tools::run(Command::new("rustc").arg("-V"))?;
    fs::write(
        root.join(PREBUILT).join(STAMP),
        stamp(&hash, &id, rustc.trim(), &sums),
    )
    .map_err(|e| e.to_string())?;
    fs::copy(root.join(crate::HEADER), root.join(HEADER_COPY)).map_err(|e| e.to_string())?;
    eprintln!("edk2-prebuilts: stamp {}; header copied", &hash[..16]);
    check(root, api)
}

/// `artifact` plus the identity member, built like the artifact (its C consumer's target and
/// flags: same machine, object format and float ABI) and without a time stamp, so that a
/// refresh of unchanged sources gives the same bytes.
fn with_identity(
    target: &Target,
    source: &Path,
    artifact: &Path,
    out: &Path,
    tools: &Tools,
) -> Result<(), Error> {
    let dir = out.parent().unwrap();
    let object = dir.join("UefiPoolAllocPrebuiltId.obj");
    let mut clang = tools.clang();
    clang
        .arg(format!("--target={}", target.c_target))
        .args(target.c_flags);
    clang.args([
        "-ffreestanding",
        "-fno-ident",
        "-fno-asynchronous-unwind-tables",
        "-fno-unwind-tables",
    ]);
    clang
        .args(["-mno-incremental-linker-compatible", "-O2", "-c"])
        .arg(source)
        .arg("-o")
        .arg(&object);
    tools::run(&mut clang)?;
    match target.format {
        Format::Elf => tools::run(
            tools
                .llvm("ld.lld")
                .arg("-r")
                .arg(artifact)
                .arg(&object)
                .arg("-o")
                .arg(out),
        ),
        // In the object's directory, so that its member name carries no directory.
        Format::Coff => tools::run_in(
            dir,
            tools
                .llvm("llvm-lib")
                .arg("/nologo")
                .arg(format!("/out:{}", out.display()))
                .arg(artifact)
                .arg("UefiPoolAllocPrebuiltId.obj"),
        ),
    }
    .map(drop)
}

fn stamp(hash: &str, id: &str, rustc: &str, sums: &str) -> String {
    format!(
        "/** @file
  Identity of the prebuilt uefi-pool-alloc archives beside this file. Generated by
  scripts/edk2-refresh.sh (cargo xtask edk2-prebuilts) together with them: do not edit.

  UEFI_POOL_ALLOC_PREBUILT_SOURCE_HASH is the SHA-256 of the Rust sources they were built from
  (scripts/edk2-refresh.sh --check compares it with the sources); every prebuilt defines the
  symbol UEFI_POOL_ALLOC_PREBUILT_ID, which UefiPoolAllocLib.c reads, so prebuilts of another
  refresh fail to link.

  Built with: {rustc}
  SHA-256 of the prebuilts:
{sums}**/

#ifndef UEFI_POOL_ALLOC_PREBUILT_H_
#define UEFI_POOL_ALLOC_PREBUILT_H_

#define UEFI_POOL_ALLOC_PREBUILT_SOURCE_HASH  \"{hash}\"
#define UEFI_POOL_ALLOC_PREBUILT_ID           {id}
#define UEFI_POOL_ALLOC_PREBUILT_ID_BYTE      '{}'

#endif
",
        &hash[..1]
    )
}

/// What a stamp records: the source hash and "sha256  file" pairs.
fn read_stamp(text: &str) -> (Option<String>, Vec<(String, String)>) {
    let hash = text.lines().find_map(|line| {
        let rest = line.strip_prefix("#define UEFI_POOL_ALLOC_PREBUILT_SOURCE_HASH")?;
        Some(rest.trim().trim_matches('"').to_string())
    });
    let sums = text
        .lines()
        .filter_map(|line| {
            let (sum, file) = line.strip_prefix("  ")?.split_once("  ")?;
            (sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| (sum.to_string(), file.to_string()))
        })
        .collect();
    (hash, sums)
}

/// Fails unless the package's prebuilts, their stamp and the header copy match the sources.
pub fn check(root: &Path, api: &[String]) -> Result<(), Error> {
    let prebuilt = root.join(PREBUILT);
    let text = fs::read_to_string(prebuilt.join(STAMP))
        .map_err(|_| format!("{PREBUILT}/{STAMP} missing"))?;
    let (stamped, sums) = read_stamp(&text);
    let hash = release::source_hash(root, api)?;
    let mut problems = Vec::new();
    if stamped.as_deref() != Some(hash.as_str()) {
        problems.push(format!(
            "the prebuilts were built from other sources (stamp {}, sources now {})",
            stamped.as_deref().map_or("none", |h| &h[..h.len().min(16)]),
            &hash[..16]
        ));
    }
    let expected: Vec<String> = TARGETS.iter().map(package_file).collect();
    let listed: Vec<&String> = sums.iter().map(|(_, file)| file).collect();
    if expected.iter().collect::<Vec<_>>() != listed {
        problems.push(format!(
            "the stamp lists {listed:?}, not the package's {expected:?}"
        ));
    }
    for (sum, file) in &sums {
        match fs::read(prebuilt.join(file)) {
            Ok(data) if sha256(&data) == *sum => {}
            Ok(_) => problems.push(format!(
                "Prebuilt/{file} is not the file of the last refresh"
            )),
            Err(_) => problems.push(format!("Prebuilt/{file} missing")),
        }
    }
    if fs::read(root.join(crate::HEADER)).ok() != fs::read(root.join(HEADER_COPY)).ok() {
        problems.push(format!("{HEADER_COPY} differs from {}", crate::HEADER));
    }
    if problems.is_empty() {
        eprintln!(
            "edk2-prebuilts: the EDK2 package's prebuilts match the sources ({})",
            &hash[..16]
        );
        return Ok(());
    }
    for problem in &problems {
        eprintln!("edk2-prebuilts: {problem}");
    }
    Err(format!(
        "the EDK2 package {PACKAGE} is stale: run scripts/edk2-refresh.sh"
    ))
}

/// The release directory the prebuilts come from (`RELEASE_DIR`, default build/release).
pub fn release_dir(root: &Path) -> PathBuf {
    crate::env_path(root, "RELEASE_DIR", "build/release")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_its_own_package_file() {
        let files: Vec<String> = TARGETS.iter().map(package_file).collect();
        let mut unique = files.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), TARGETS.len());
        assert!(files.contains(&"IA32/UefiPoolAlloc.lib".to_string()));
        assert!(files.contains(&"RISCV64/UefiPoolAlloc.o".to_string()));
    }

    #[test]
    fn a_stamp_reads_back_what_it_records() {
        let hash = "ab".repeat(32);
        let sums = format!(
            "  {}  X64/UefiPoolAlloc.o\n  {}  IA32/UefiPoolAlloc.lib\n",
            "1".repeat(64),
            "2".repeat(64)
        );
        let text = stamp(
            &hash,
            "UefiPoolAllocPrebuilt_abababababababab",
            "rustc",
            &sums,
        );
        let (read, files) = read_stamp(&text);
        assert_eq!(read.as_deref(), Some(hash.as_str()));
        assert_eq!(
            files,
            [
                ("1".repeat(64), "X64/UefiPoolAlloc.o".into()),
                ("2".repeat(64), "IA32/UefiPoolAlloc.lib".into())
            ]
        );
        assert!(text.contains("#define UEFI_POOL_ALLOC_PREBUILT_ID_BYTE      'a'"));
    }
}
