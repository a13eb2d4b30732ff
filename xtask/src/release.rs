//! The release: the C static library built for every target from one source, processed so that
//! it exports nothing but the API, and laid out with the header and a manifest.
//!
//! Symbol hygiene (a consumer links the artifact next to its own compiler runtime):
//! - ELF: `ld.lld -r --gc-sections`, rooted at the API, keeps only what the API reaches, in one
//!   object; every other global is made local and renamed with `HELPER_PREFIX`, so the library's
//!   memcpy and memset are its own and invisible.
//! - COFF: lld-link has no relocatable link, so the archive keeps separate members: those the
//!   API reaches (closure over undefined symbols), in which every external name but the API,
//!   definitions and references alike, gets the prefix; llvm-lib repacks them.
//! - Both: embedded bitcode (`.llvmbc`, `.llvmcmd`) and debug info go; on ELF `.eh_frame` too
//!   (panic = "abort": nothing unwinds; GenFw rejects it on AArch64).

use crate::objects::{self, Error};
use crate::targets::{Format, Target, Toolchain};
use crate::tools::{self, Tools};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Prefix of every renamed runtime helper: memcpy becomes `__uefi_pool_alloc_memcpy`.
pub const HELPER_PREFIX: &str = "__uefi_pool_alloc_";

pub struct Options {
    pub release_dir: PathBuf,
    /// Cargo's target directory for these builds, apart from the other builds' `target/`.
    pub target_dir: PathBuf,
    pub nightly: String,
}

/// One artifact's manifest row.
struct Artifact {
    target: &'static Target,
    file: String,
    bytes: u64,
    sizes: objects::Sizes,
    sha256: String,
    toolchain: String,
}

/// Builds and processes every target; writes `lib/`, `include/` and the manifests.
pub fn run(root: &Path, api: &[String], options: &Options, tools: &Tools) -> Result<(), Error> {
    tools.require(&["llvm-objcopy", "llvm-lib", "ld.lld"])?;
    let release = &options.release_dir;
    if release.exists() {
        fs::remove_dir_all(release).map_err(|e| format!("{}: {e}", release.display()))?;
    }
    let work = release.join(".work");
    let header = root.join(crate::HEADER);
    fs::create_dir_all(release.join("include")).map_err(|e| e.to_string())?;
    fs::copy(&header, release.join(crate::HEADER)).map_err(|e| e.to_string())?;

    let mut artifacts = Vec::new();
    for target in crate::targets::TARGETS {
        eprintln!("release: {}: building (release)", target.triple);
        let toolchain = build(root, target, options)?;
        let archive = options
            .target_dir
            .join(target.triple)
            .join("release/libuefi_pool_alloc.a");
        let dir = release.join("lib").join(target.triple);
        let out = dir.join(target.artifact());
        let tmp = work.join(target.triple);
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        let api: Vec<String> = api.iter().map(|name| target.decorate(name)).collect();
        let job = Job {
            target,
            archive: &archive,
            out: &out,
            tmp: &tmp,
            api: &api,
            tools,
        };
        match target.format {
            Format::Elf => job.elf()?,
            Format::Coff => job.coff()?,
        }
        let data = fs::read(&out).map_err(|e| e.to_string())?;
        let sizes = objects::sizes(&objects::members(&out)?)?;
        eprintln!(
            "release: {}: {} bytes; text {}, rodata {}, data {}, bss {}",
            out.display(),
            data.len(),
            sizes.text,
            sizes.rodata,
            sizes.data,
            sizes.bss
        );
        artifacts.push(Artifact {
            target,
            file: format!("lib/{}/{}", target.triple, target.artifact()),
            bytes: data.len() as u64,
            sizes,
            sha256: sha256(&data),
            toolchain,
        });
    }
    fs::remove_dir_all(&work).map_err(|e| e.to_string())?;
    write_manifests(root, release, api, &artifacts)
}

/// Builds the C library crate for `target`; returns the toolchain's description.
fn build(root: &Path, target: &Target, options: &Options) -> Result<String, Error> {
    let mut cargo = Command::new("cargo");
    let description = match target.toolchain {
        Toolchain::Stable => tools::run(Command::new("rustc").arg("--version"))?,
        Toolchain::BuildStd => {
            cargo.arg(format!("+{}", options.nightly));
            let rustc = tools::run(
                Command::new("rustc")
                    .arg(format!("+{}", options.nightly))
                    .arg("--version"),
            )?;
            format!("{} -Zbuild-std", rustc.trim())
        }
    };
    let description = format!("{} {}", description.trim(), target.rustflags);
    cargo.args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "uefi-pool-alloc-capi",
        "--target",
        &target.cargo_target(root),
    ]);
    if target.spec.is_some() {
        cargo.arg("-Zjson-target-spec");
    }
    let variable = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        target.triple.to_uppercase().replace('-', "_")
    );
    cargo.env(variable, target.rustflags);
    if target.toolchain == Toolchain::BuildStd {
        cargo.args([
            "-Zbuild-std=core,compiler_builtins",
            "-Zbuild-std-features=compiler-builtins-mem",
        ]);
    }
    if (target.toolchain, target.format) == (Toolchain::BuildStd, Format::Coff) {
        // One function a member, as rustup builds it: the COFF closure then ships only the
        // helpers the library calls (with the release profile's single unit, all of them).
        // ELF's --gc-sections needs no such split, and its code is smaller without it.
        cargo.args([
            "--config",
            "profile.release.package.compiler_builtins.codegen-units=10000",
        ]);
    }
    cargo.env("CARGO_TARGET_DIR", &options.target_dir);
    tools::run_in(root, &mut cargo)?;
    Ok(description.trim_end().to_string())
}

/// The prefixed name of a helper: `memcpy` → `__uefi_pool_alloc_memcpy` (decorated as the
/// target decorates C names).
pub fn helper_name(target: &Target, symbol: &str) -> String {
    target.decorate(&format!("{HELPER_PREFIX}{}", target.undecorate(symbol)))
}

/// One target's processing: the raw rustc archive in, the artifact out.
#[derive(Clone, Copy)]
struct Job<'a> {
    target: &'a Target,
    archive: &'a Path,
    out: &'a Path,
    /// Scratch directory of this target.
    tmp: &'a Path,
    /// The API, decorated as the target names C functions.
    api: &'a [String],
    tools: &'a Tools,
}

/// `llvm-objcopy --redefine-syms` lines: every name but the API gets the helper prefix.
fn rename_map(target: &Target, names: &BTreeSet<String>, api: &[String]) -> String {
    let mut map = String::new();
    for name in names.iter().filter(|name| !api.contains(name)) {
        let _ = writeln!(map, "{name} {}", helper_name(target, name));
    }
    map
}

impl Job<'_> {
    /// llvm-objcopy, told to drop debug info and embedded bitcode.
    fn objcopy_stripped(&self) -> Command {
        let mut objcopy = self.tools.llvm("llvm-objcopy");
        objcopy.args([
            "--strip-debug",
            "--remove-section=.llvmbc",
            "--remove-section=.llvmcmd",
        ]);
        objcopy
    }

    fn elf(&self) -> Result<(), Error> {
        let prelinked = self.tmp.join("prelinked.o");
        let local = self.tmp.join("local.o");
        let map = self.tmp.join("rename.map");
        // Only the archive members and sections the API reaches; no --whole-archive.
        let mut link = self.tools.llvm("ld.lld");
        link.args(["-r", "--gc-sections"]);
        for name in self.api {
            link.args(["-u", name]);
        }
        tools::run(link.arg("-o").arg(&prelinked).arg(self.archive))?;
        // Every global definition but the API, read before localisation so it can be renamed after.
        let globals = objects::symbols(&objects::members(&prelinked)?[0])?.defined;
        fs::write(&map, rename_map(self.target, &globals, self.api)).map_err(|e| e.to_string())?;
        let mut strip = self.objcopy_stripped();
        strip.args([
            "--remove-section=.eh_frame",
            "--remove-section=.rela.eh_frame",
        ]);
        for name in self.api {
            strip.arg(format!("--keep-global-symbol={name}"));
        }
        tools::run(strip.arg(&prelinked).arg(&local))?;
        tools::run(
            self.tools
                .llvm("llvm-objcopy")
                .arg(format!("--redefine-syms={}", map.display()))
                .arg(&local)
                .arg(self.out),
        )?;
        Ok(())
    }

    fn coff(&self) -> Result<(), Error> {
        let members = objects::members(self.archive)?;
        let mut symbols = BTreeMap::new();
        for member in &members {
            // Member names are unique in a rustc archive (crate hash, CGU number); check anyway.
            if symbols
                .insert(member.name.clone(), objects::symbols(member)?)
                .is_some()
            {
                return Err(format!(
                    "{}: duplicate member name {}",
                    self.archive.display(),
                    member.name
                ));
            }
        }
        let chosen =
            closure(&symbols, self.api).map_err(|e| format!("{}: {e}", self.target.triple))?;
        let names: BTreeSet<String> = chosen
            .iter()
            .flat_map(|m| symbols[m].defined.iter().chain(&symbols[m].undefined))
            .cloned()
            .collect();
        let map = self.tmp.join("rename.map");
        let renames = rename_map(self.target, &names, self.api);
        fs::write(&map, &renames).map_err(|e| e.to_string())?;
        let renamed = self.tmp.join("renamed");
        fs::create_dir_all(&renamed).map_err(|e| e.to_string())?;
        let mut kept = Vec::new();
        for member in members.iter().filter(|m| chosen.contains(&m.name)) {
            let original = self.tmp.join(&member.name);
            fs::write(&original, &member.data).map_err(|e| e.to_string())?;
            let mut objcopy = self.objcopy_stripped();
            let directives = objects::directives(member)?;
            if !directives.is_empty() {
                dll_export_only(&directives)
                    .map_err(|e| format!("{}: member {}: {e}", self.target.triple, member.name))?;
                objcopy.arg("--remove-section=.drectve");
            }
            objcopy.arg(format!("--redefine-syms={}", map.display()));
            tools::run(objcopy.arg(&original).arg(renamed.join(&member.name)))?;
            kept.push(member.name.clone());
        }
        // llvm-lib stores member names as given, relative to its working directory: write the
        // archive next to the members, in the archive's order, then move it.
        tools::run_in(
            &renamed,
            self.tools
                .llvm("llvm-lib")
                .args(["/nologo", "/out:uefi_pool_alloc.lib"])
                .args(&kept),
        )?;
        fs::rename(renamed.join("uefi_pool_alloc.lib"), self.out).map_err(|e| e.to_string())?;
        eprintln!(
            "release: {}: {} of {} self.archive members kept, {} symbols renamed",
            self.target.triple,
            kept.len(),
            members.len(),
            renames.lines().count()
        );
        Ok(())
    }
}

/// The members to ship: those defining an API function, then those defining what the chosen
/// ones reference, until nothing new comes in. Fails on a reference no chosen member resolves
/// (the artifact must be self-contained) and on a name two chosen members define (a link
/// error for the consumer).
pub fn closure(
    symbols: &BTreeMap<String, objects::Symbols>,
    api: &[String],
) -> Result<BTreeSet<String>, Error> {
    let mut chosen: BTreeSet<String> = symbols
        .iter()
        .filter(|(_, s)| api.iter().any(|name| s.defined.contains(name)))
        .map(|(member, _)| member.clone())
        .collect();
    loop {
        let needed: BTreeSet<&String> = chosen.iter().flat_map(|m| &symbols[m].undefined).collect();
        let more: Vec<String> = symbols
            .iter()
            .filter(|(member, s)| {
                !chosen.contains(*member) && s.defined.iter().any(|d| needed.contains(d))
            })
            .map(|(member, _)| member.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        chosen.extend(more);
    }
    let mut defined: BTreeMap<&String, usize> = BTreeMap::new();
    for name in chosen.iter().flat_map(|m| &symbols[m].defined) {
        *defined.entry(name).or_default() += 1;
    }
    let unresolved: BTreeSet<&String> = chosen
        .iter()
        .flat_map(|m| &symbols[m].undefined)
        .filter(|n| !defined.contains_key(n))
        .collect();
    if !unresolved.is_empty() {
        return Err(format!("unresolved symbols: {}", join(unresolved)));
    }
    let twice: Vec<&String> = defined
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(name, _)| *name)
        .collect();
    if !twice.is_empty() {
        return Err(format!(
            "symbols defined by more than one chosen member: {}",
            join(twice)
        ));
    }
    Ok(chosen)
}

fn join<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    names
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Accepts linker directives that only keep names out of a DLL's automatic exports (i686
/// compiler_builtins carries them); they mean nothing to a static UEFI image, so the section
/// goes. Any other directive (`/alternatename`, `/export`, a default library) could name
/// symbols behind the renaming, and is refused.
fn dll_export_only(directives: &[String]) -> Result<(), Error> {
    match directives
        .iter()
        .find(|d| !d.to_ascii_lowercase().starts_with("-exclude-symbols:"))
    {
        None => Ok(()),
        Some(other) => Err(format!(
            "linker directive {other} in .drectve; renaming would not cover it"
        )),
    }
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `manifest.txt` (tab-separated rows under a header row) and `manifest.json`, the same facts.
fn write_manifests(
    root: &Path,
    release: &Path,
    api: &[String],
    artifacts: &[Artifact],
) -> Result<(), Error> {
    let header = fs::read(root.join(crate::HEADER)).map_err(|e| e.to_string())?;
    let header_sum = sha256(&header);
    let commit = commit(root);
    let version = env!("CARGO_PKG_VERSION");
    let mut text = format!("# uefi-pool-alloc {version} release, commit {commit}\n");
    let _ = writeln!(
        text,
        "# header {} sha256 {header_sum}; API: {}",
        crate::HEADER,
        api.join(" ")
    );
    text.push_str(
        "target\tformat\tmachine\tabi\tfile\tbytes\ttext\trodata\tdata\tbss\tsha256\ttoolchain\n",
    );
    let mut rows = Vec::new();
    for a in artifacts {
        let t = a.target;
        let s = a.sizes;
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            t.triple,
            t.format_name(),
            t.machine_name(),
            t.abi,
            a.file,
            a.bytes,
            s.text,
            s.rodata,
            s.data,
            s.bss,
            a.sha256,
            a.toolchain
        );
        rows.push(serde_json::json!({
            "target": t.triple, "format": t.format_name(), "machine": t.machine_name(), "abi": t.abi,
            "file": a.file, "bytes": a.bytes, "text": s.text, "rodata": s.rodata, "data": s.data,
            "bss": s.bss, "sha256": a.sha256, "toolchain": a.toolchain,
        }));
    }
    let json = serde_json::json!({
        "name": "uefi-pool-alloc",
        "version": version,
        "commit": commit,
        "header": { "file": crate::HEADER, "sha256": header_sum },
        "api": api,
        "helper_prefix": HELPER_PREFIX,
        "artifacts": rows,
    });
    let json = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())? + "\n";
    fs::write(release.join("manifest.txt"), text).map_err(|e| e.to_string())?;
    fs::write(release.join("manifest.json"), json).map_err(|e| e.to_string())
}

/// The commit the release is built from, marked `+dirty` when the work tree differs.
fn commit(root: &Path) -> String {
    let head = tools::run_in(root, Command::new("git").args(["rev-parse", "HEAD"]));
    let Ok(head) = head else {
        return "unknown".to_string();
    };
    let dirty = tools::run_in(root, Command::new("git").args(["status", "--porcelain"]))
        .map(|status| !status.trim().is_empty())
        .unwrap_or(false);
    format!("{}{}", head.trim(), if dirty { "+dirty" } else { "" })
}

/// The inputs that shape the artifacts, hashed: the sources of the library and of the C
/// library crate, the API, the code of the tooling that transforms them (comments and blank
/// lines left out), `[profile.release]` and the resolved dependency versions. The EDK2 stamp
/// and the tests' staleness check compare it; file times and absolute paths stay out.
pub fn source_hash(root: &Path, api: &[String]) -> Result<String, Error> {
    let mut hasher = Sha256::new();
    let mut files = Vec::new();
    for dir in ["src", "capi"] {
        collect_files(&root.join(dir), &mut files)?;
    }
    files.sort();
    for file in &files {
        let name = file.strip_prefix(root).unwrap_or(file);
        hasher.update(format!("== {}\n", name.display()));
        hasher.update(fs::read(file).map_err(|e| e.to_string())?);
    }
    hasher.update(format!("== API\n{}\n", api.join("\n")));
    for tool in [
        "xtask/src/release.rs",
        "xtask/src/targets.rs",
        "xtask/src/objects.rs",
        "xtask/src/tools.rs",
    ] {
        let text = fs::read_to_string(root.join(tool)).map_err(|e| format!("{tool}: {e}"))?;
        hasher.update(format!("== {tool}, code only\n{}", code_only(&text)));
    }
    let manifest = fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    hasher.update(format!(
        "== [profile.release]\n{}",
        section(&manifest, "[profile.release]")
    ));
    let tree = |offline: bool| {
        let mut cargo = Command::new("cargo");
        cargo.args([
            "tree",
            "-q",
            "-p",
            "uefi-pool-alloc-capi",
            "-e",
            "normal",
            "--prefix",
            "none",
        ]);
        cargo.args(["--target", "all"]);
        if offline {
            cargo.arg("--offline");
        }
        tools::run_in(root, &mut cargo)
    };
    // Offline first (instant); online on a machine whose cargo cache is still empty.
    let tree = tree(true).or_else(|_| tree(false))?;
    let crates: BTreeSet<&str> = tree
        .lines()
        .map(|l| l.split(" (").next().unwrap_or(l))
        .collect();
    hasher.update(format!(
        "== resolved dependencies\n{}\n",
        crates.into_iter().collect::<Vec<_>>().join("\n")
    ));
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else if !path.to_string_lossy().ends_with('~') {
            files.push(path);
        }
    }
    Ok(())
}

/// Rust source without blank lines and whole-line comments.
fn code_only(text: &str) -> String {
    text.lines()
        .filter(|line| {
            let line = line.trim_start();
            !line.is_empty() && !line.starts_with("//")
        })
        .map(|line| format!("{}\n", line.trim()))
        .collect()
}

/// The lines of a TOML table, from its header to the next table.
fn section(toml: &str, header: &str) -> String {
    let mut lines = toml.lines().skip_while(|line| line.trim() != header);
    let first = lines
        .next()
        .map(|line| format!("{line}\n"))
        .unwrap_or_default();
    first
        + &lines
            .take_while(|line| !line.starts_with('['))
            .map(|line| format!("{line}\n"))
            .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::TARGETS;

    fn member(defined: &[&str], undefined: &[&str]) -> objects::Symbols {
        objects::Symbols {
            defined: defined.iter().map(|s| s.to_string()).collect(),
            undefined: undefined.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn archive(members: &[(&str, objects::Symbols)]) -> BTreeMap<String, objects::Symbols> {
        members
            .iter()
            .map(|(name, symbols)| (name.to_string(), symbols.clone()))
            .collect()
    }

    #[test]
    fn closure_takes_what_the_api_reaches_and_nothing_else() {
        let symbols = archive(&[
            (
                "lib.o",
                member(&["pool_init", "internal"], &["memcpy", "helper"]),
            ),
            ("helper.o", member(&["helper"], &["memset"])),
            ("mem.o", member(&["memcpy", "memset"], &[])),
            ("unused.o", member(&["__udivti3"], &["missing"])),
        ]);
        let chosen = closure(&symbols, &["pool_init".to_string()]).unwrap();
        assert_eq!(
            chosen.into_iter().collect::<Vec<_>>(),
            ["helper.o", "lib.o", "mem.o"]
        );
    }

    #[test]
    fn closure_refuses_unresolved_and_twice_defined_names() {
        let api = ["pool_init".to_string()];
        let unresolved = archive(&[("lib.o", member(&["pool_init"], &["missing"]))]);
        assert!(
            closure(&unresolved, &api)
                .unwrap_err()
                .contains("unresolved symbols: missing")
        );
        let twice = archive(&[
            ("lib.o", member(&["pool_init"], &["a", "b"])),
            ("a.o", member(&["a", "memcpy"], &[])),
            ("b.o", member(&["b", "memcpy"], &[])),
        ]);
        assert!(
            closure(&twice, &api)
                .unwrap_err()
                .contains("more than one chosen member: memcpy")
        );
    }

    #[test]
    fn rename_map_spares_the_api_and_decorates_on_ia32() {
        let names: BTreeSet<String> = ["_pool_init", "_memcpy", ".weak.memset.default"]
            .map(String::from)
            .into();
        let ia32 = Target::by_triple("i686-unknown-uefi").unwrap();
        let map = rename_map(ia32, &names, &["_pool_init".to_string()]);
        assert_eq!(
            map,
            ".weak.memset.default ___uefi_pool_alloc_.weak.memset.default\n_memcpy ___uefi_pool_alloc_memcpy\n"
        );
        let x64 = &TARGETS[0];
        assert_eq!(helper_name(x64, "memcpy"), "__uefi_pool_alloc_memcpy");
    }

    #[test]
    fn only_dll_export_exclusions_may_be_dropped() {
        let words = |text: &str| {
            text.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert!(dll_export_only(&words("-exclude-symbols:_a -EXCLUDE-SYMBOLS:_b")).is_ok());
        let refused = dll_export_only(&words("-exclude-symbols:_a /alternatename:_memcpy=_x"));
        assert!(refused.unwrap_err().contains("/alternatename:_memcpy=_x"));
    }

    #[test]
    fn code_only_ignores_comments_and_blank_lines() {
        assert_eq!(
            code_only("// why\n\nfn a() {}\n    // more\n  let b = 1; // kept\n"),
            "fn a() {}\nlet b = 1; // kept\n"
        );
    }

    #[test]
    fn section_reads_one_toml_table() {
        let toml = "[package]\nname = \"x\"\n[profile.release]\nlto = true\npanic = \"abort\"\n[features]\n";
        assert_eq!(
            section(toml, "[profile.release]"),
            "[profile.release]\nlto = true\npanic = \"abort\"\n"
        );
    }
}
