//! The symbol hygiene and firmware fitness checks of the release artifacts. Per artifact:
//!   - the API defined once each, and no other global definition (COFF archives keep their
//!     members apart, so there global helpers must carry the prefix `__uefi_pool_alloc_`);
//!   - nothing undefined (COFF: nothing that no member defines);
//!   - no embedded bitcode, and on ELF no `.eh_frame`;
//!   - registers firmware does not allow (x18 on AArch64, SIMD and the red zone on x86, `gp` on
//!     RISC-V);
//!   - ELF: a relocatable object whose relocation types EDK2's GenFw converts;
//!   - the hazard test: a C program that brings its own memcpy/memset and whose compiler
//!     runtime is linked after the artifact must keep its own symbols, and the library its own.

use crate::objects::{self, Error, Member, Symbols};
use crate::release::HELPER_PREFIX as PREFIX;
use crate::targets::{Format, Machine, Target};
use crate::tools::{self, Tools};
use object::elf;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Checks every artifact of `release` (lib/TRIPLE/<artifact()>) for the targets given; prints
/// one "ok   TRIPLE (FORMAT): ..." or "FAIL TRIPLE (FORMAT): ..." line each and
/// "N passed, M failed". `raw_dir` is the cargo target dir of the raw rustc archives
/// (TRIPLE/release/libuefi_pool_alloc.a), for the contrast link, skipped when absent.
pub fn check(
    release: &Path,
    targets: &[&'static Target],
    api: &[String],
    tools: &Tools,
    raw_dir: &Path,
) -> Result<bool, Error> {
    let work = WorkDir::new()?;
    let include = include_dir(release)?;
    let (mut passed, mut failed) = (0, 0);
    for &target in targets {
        let cx = Context {
            target,
            api,
            tools,
            include: &include,
            work: &work.0.join(target.triple),
        };
        let file = release
            .join("lib")
            .join(target.triple)
            .join(target.artifact());
        let raw = raw_dir
            .join(target.triple)
            .join("release/libuefi_pool_alloc.a");
        let verdict = check_artifact(&cx, &file, &raw);
        println!("{}", verdict.line(target, api.len()));
        if verdict.problems.is_empty() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// What one artifact's checks share.
struct Context<'a> {
    target: &'static Target,
    api: &'a [String],
    tools: &'a Tools,
    include: &'a Path,
    work: &'a Path,
}

/// Problems fail the artifact; notes go into its ok line.
#[derive(Default)]
struct Verdict {
    problems: Vec<String>,
    notes: Vec<String>,
}

impl Verdict {
    fn line(&self, target: &Target, api: usize) -> String {
        let head = format!("{} ({})", target.triple, target.format_name());
        if self.problems.is_empty() {
            format!(
                "ok   {head}: {api} API symbols only, no undefined; {}",
                self.notes.join("; ")
            )
        } else {
            format!("FAIL {head}: {}", self.problems.join("; "))
        }
    }

    /// A problem when `hits` is non-zero, else the note.
    fn count(&mut self, hits: usize, problem: &str, note: &str) {
        if hits == 0 {
            self.notes.push(note.to_string());
        } else {
            self.problems.push(format!("{hits} instructions {problem}"));
        }
    }
}

/// A scratch directory, removed at the end unless KEEP_WORK is set (to read the maps).
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir, Error> {
        let dir = std::env::temp_dir().join(format!("xtask-symbols.{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_WORK").is_some() {
            eprintln!("xtask: kept {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// The header shipped with the release, else the repository's (absolute: clang runs elsewhere).
fn include_dir(release: &Path) -> Result<PathBuf, Error> {
    let shipped = release.join("include");
    let dir = if shipped.join("uefi_pool_alloc.h").is_file() {
        shipped
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../include")
    };
    std::path::absolute(&dir).map_err(|e| format!("{}: {e}", dir.display()))
}

fn check_artifact(cx: &Context, file: &Path, raw: &Path) -> Verdict {
    let mut verdict = Verdict::default();
    if !file.is_file() {
        verdict.problems.push(format!("{} missing", file.display()));
        return verdict;
    }
    if let Err(e) = inspect(cx, file, &mut verdict) {
        verdict.problems.push(e);
    }
    hazard_test(cx, file, raw, &mut verdict);
    verdict
}

/// Everything read from the artifact itself: symbols, sections, instructions, relocations.
fn inspect(cx: &Context, file: &Path, verdict: &mut Verdict) -> Result<(), Error> {
    let t = cx.target;
    let members = objects::members(file)?;
    let symbols: Vec<Symbols> = members
        .iter()
        .map(objects::symbols)
        .collect::<Result<_, _>>()?;
    classify(t, cx.api, &symbols).report(t, verdict);

    let bad = forbidden_sections(t.format, &objects::section_names(&members)?);
    if !bad.is_empty() {
        verdict
            .problems
            .push(format!("sections left: {}", bad.join(" ")));
    }

    let disassembly = tools::run(
        cx.tools
            .llvm("llvm-objdump")
            .args(["-d", "--no-show-raw-insn"])
            .arg(file),
    )?;
    for rule in register_rules(t.machine) {
        verdict.count(count_hits(&disassembly, rule.hit), rule.problem, rule.note);
    }

    if t.format == Format::Elf {
        check_elf(t.machine, &members, verdict)?;
    }
    Ok(())
}

// --- symbols ------------------------------------------------------------------------------

/// The global symbols of an artifact sorted by what the checks demand of them.
#[derive(Default, Debug)]
struct Classified {
    missing: Vec<String>,
    twice: Vec<String>,
    /// Global definitions that are neither API nor (on COFF) prefixed helpers.
    foreign: Vec<String>,
    prefixed: usize,
    undefined: Vec<String>,
}

/// `members` are the symbol tables of the artifact's members (one for ELF).
fn classify(t: &Target, api: &[String], members: &[Symbols]) -> Classified {
    let mut definitions: BTreeMap<&str, usize> = BTreeMap::new();
    for name in members.iter().flat_map(|m| &m.defined) {
        *definitions.entry(name).or_default() += 1;
    }
    let api: BTreeSet<String> = api.iter().map(|name| t.decorate(name)).collect();
    let mut out = Classified::default();
    for name in &api {
        match definitions.get(name.as_str()) {
            None => out.missing.push(name.clone()),
            Some(1) => {}
            Some(_) => out.twice.push(name.clone()),
        }
    }
    for &name in definitions.keys().filter(|name| !api.contains(**name)) {
        // An archive keeps its members apart, so a helper only needs a name nobody else uses.
        if t.format == Format::Coff && t.undecorate(name).starts_with(PREFIX) {
            out.prefixed += 1;
        } else {
            out.foreign.push(name.to_string());
        }
    }
    let undefined = members.iter().flat_map(|m| &m.undefined);
    // References between members are resolved inside a COFF archive.
    let resolved =
        |name: &&String| t.format == Format::Coff && definitions.contains_key(name.as_str());
    out.undefined = undefined
        .filter(|name| !resolved(name))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    out
}

impl Classified {
    fn report(&self, t: &Target, verdict: &mut Verdict) {
        if !self.missing.is_empty() {
            verdict
                .problems
                .push(format!("missing API: {}", self.missing.join(" ")));
        }
        if !self.twice.is_empty() {
            verdict.problems.push(format!(
                "API defined more than once: {}",
                self.twice.join(" ")
            ));
        }
        if !self.foreign.is_empty() {
            verdict.problems.push(format!(
                "foreign global definitions {}",
                brief(&self.foreign)
            ));
        }
        if t.format == Format::Coff {
            verdict
                .notes
                .push(format!("{} prefixed helpers", self.prefixed));
        }
        if !self.undefined.is_empty() {
            verdict
                .problems
                .push(format!("undefined {}", brief(&self.undefined)));
        }
    }
}

/// "N: the first eight names ...", for readable failure lines.
fn brief(names: &[String]) -> String {
    let more = if names.len() > 8 { " ..." } else { "" };
    format!(
        "{}: {}{more}",
        names.len(),
        names[..names.len().min(8)].join(" ")
    )
}

// --- sections -----------------------------------------------------------------------------

/// Sections the release must have removed: embedded bitcode everywhere; on ELF the unwind
/// tables (panic = "abort": nothing unwinds, and GenFw rejects them on AArch64).
fn forbidden_sections(format: Format, names: &BTreeSet<String>) -> Vec<String> {
    let elf_only: &[&str] = if format == Format::Elf {
        &[".eh_frame", ".rela.eh_frame"]
    } else {
        &[]
    };
    [".llvmbc", ".llvmcmd"]
        .iter()
        .chain(elf_only)
        .filter(|name| names.contains(**name))
        .map(|name| name.to_string())
        .collect()
}

// --- registers ----------------------------------------------------------------------------

/// A register use firmware does not allow, matched on one instruction's operands.
struct Rule {
    problem: &'static str,
    note: &'static str,
    hit: fn(&str) -> bool,
}

fn register_rules(machine: Machine) -> &'static [Rule] {
    // UEFI reserves x18 on AArch64 (the platform register).
    const X18: Rule = Rule {
        problem: "use x18/w18",
        note: "no x18",
        hit: uses_x18,
    };
    // Soft-float: firmware saves no SIMD state for a driver.
    const SIMD: Rule = Rule {
        problem: "use xmm/ymm/zmm",
        note: "no xmm/ymm/zmm",
        hit: uses_simd,
    };
    // Interrupt handlers in firmware run on the same stack and overwrite what lies below %rsp.
    const RED_ZONE: Rule = Rule {
        problem: "address below %rsp (red zone)",
        note: "no red zone",
        hit: below_rsp,
    };
    // UEFI and U-Boot do not set gp up for a loaded image: gp-relative data would be the
    // firmware's, and writing gp would corrupt it.
    const GP: Rule = Rule {
        problem: "use gp (x3)",
        note: "no gp",
        hit: uses_gp,
    };
    match machine {
        Machine::Aarch64 => &[X18],
        Machine::X86_64 => &[SIMD, RED_ZONE],
        Machine::I386 => &[SIMD],
        Machine::Riscv64 => &[GP],
    }
}

/// Instructions of an `llvm-objdump -d` listing whose operands `hit` matches.
fn count_hits(disassembly: &str, hit: fn(&str) -> bool) -> usize {
    disassembly
        .lines()
        .filter_map(operands)
        .filter(|ops| hit(ops))
        .count()
}

/// The operands of a disassembly line "ADDR: \tMNEMONIC\tOPERANDS <symbol+off>", without the
/// symbol annotation (a symbol name is no register).
fn operands(line: &str) -> Option<&str> {
    let ops = line.splitn(3, '\t').nth(2)?;
    Some(ops.split(" <").next().unwrap_or(ops))
}

/// The register-like words of an operand list: `x18`, `%xmm0`, `-0x8`.
fn words(ops: &str) -> impl Iterator<Item = &str> {
    ops.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '%' | '-' | '.')))
        .filter(|w| !w.is_empty())
}

fn uses_x18(ops: &str) -> bool {
    words(ops).any(|w| w == "x18" || w == "w18")
}

fn uses_simd(ops: &str) -> bool {
    words(ops).any(|w| {
        ["%xmm", "%ymm", "%zmm"].iter().any(|r| {
            w.strip_prefix(r)
                .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        })
    })
}

/// A memory operand `-0xN(%rsp)`.
fn below_rsp(ops: &str) -> bool {
    ops.match_indices("(%rsp)").any(|(at, _)| {
        let displacement = ops[..at].rsplit([' ', ',', '\t']).next().unwrap_or("");
        displacement
            .strip_prefix("-0x")
            .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
    })
}

/// `gp` by its ABI name (llvm-objdump's default) or as x3.
fn uses_gp(ops: &str) -> bool {
    words(ops).any(|w| w == "gp" || w == "x3")
}

// --- ELF relocations ----------------------------------------------------------------------

/// The relocation types EDK2's GenFw converts (ELF -> PE/COFF; BaseTools/Source/C/GenFw/
/// Elf64Convert.c, in both WriteSections64 and WriteRelocations64; Elf32Convert.c for IA32), by
/// machine, with their names (without the R_MACHINE_ prefix) for the messages. GenFw has no
/// case for X64's PC64 or AArch64's TSTBR14, so neither is allowed.
fn allowed_relocations(machine: Machine) -> &'static [(u32, &'static str)] {
    match machine {
        Machine::X86_64 => &[
            (elf::R_X86_64_NONE, "NONE"),
            (elf::R_X86_64_64, "64"),
            (elf::R_X86_64_PC32, "PC32"),
            (elf::R_X86_64_PLT32, "PLT32"),
            (elf::R_X86_64_GOTPCREL, "GOTPCREL"),
            (elf::R_X86_64_GOTPCRELX, "GOTPCRELX"),
            (elf::R_X86_64_REX_GOTPCRELX, "REX_GOTPCRELX"),
        ],
        Machine::Aarch64 => &[
            (elf::R_AARCH64_NONE, "NONE"),
            (elf::R_AARCH64_ABS64, "ABS64"),
            (elf::R_AARCH64_PREL32, "PREL32"),
            (elf::R_AARCH64_PREL64, "PREL64"),
            (elf::R_AARCH64_CALL26, "CALL26"),
            (elf::R_AARCH64_JUMP26, "JUMP26"),
            (elf::R_AARCH64_CONDBR19, "CONDBR19"),
            (elf::R_AARCH64_ADR_PREL_LO21, "ADR_PREL_LO21"),
            (elf::R_AARCH64_ADR_PREL_PG_HI21, "ADR_PREL_PG_HI21"),
            (elf::R_AARCH64_ADD_ABS_LO12_NC, "ADD_ABS_LO12_NC"),
            (elf::R_AARCH64_LDST8_ABS_LO12_NC, "LDST8_ABS_LO12_NC"),
            (elf::R_AARCH64_LDST16_ABS_LO12_NC, "LDST16_ABS_LO12_NC"),
            (elf::R_AARCH64_LDST32_ABS_LO12_NC, "LDST32_ABS_LO12_NC"),
            (elf::R_AARCH64_LDST64_ABS_LO12_NC, "LDST64_ABS_LO12_NC"),
            (elf::R_AARCH64_LDST128_ABS_LO12_NC, "LDST128_ABS_LO12_NC"),
            (elf::R_AARCH64_LD_PREL_LO19, "LD_PREL_LO19"),
            (elf::R_AARCH64_ADR_GOT_PAGE, "ADR_GOT_PAGE"),
            (elf::R_AARCH64_LD64_GOT_LO12_NC, "LD64_GOT_LO12_NC"),
            (elf::R_AARCH64_LD64_GOTPAGE_LO15, "LD64_GOTPAGE_LO15"),
        ],
        // The types both WriteSections64 (WriteSectionRiscV64) and WriteRelocations64 of
        // BaseTools/Source/C/GenFw/Elf64Convert.c handle; GenFw stops on any other. GPREL_I/S
        // pass there unchanged, so the gp rule catches their instructions.
        Machine::Riscv64 => &[
            (elf::R_RISCV_NONE, "NONE"),
            (elf::R_RISCV_32, "32"),
            (elf::R_RISCV_64, "64"),
            (elf::R_RISCV_HI20, "HI20"),
            (elf::R_RISCV_LO12_I, "LO12_I"),
            (elf::R_RISCV_LO12_S, "LO12_S"),
            (elf::R_RISCV_GOT_HI20, "GOT_HI20"),
            (elf::R_RISCV_PCREL_HI20, "PCREL_HI20"),
            (elf::R_RISCV_PCREL_LO12_I, "PCREL_LO12_I"),
            (elf::R_RISCV_PCREL_LO12_S, "PCREL_LO12_S"),
            (elf::R_RISCV_ADD32, "ADD32"),
            (elf::R_RISCV_ADD64, "ADD64"),
            (elf::R_RISCV_SUB32, "SUB32"),
            (elf::R_RISCV_SUB64, "SUB64"),
            (elf::R_RISCV_BRANCH, "BRANCH"),
            (elf::R_RISCV_JAL, "JAL"),
            (elf::R_RISCV_GPREL_I, "GPREL_I"),
            (elf::R_RISCV_GPREL_S, "GPREL_S"),
            (elf::R_RISCV_CALL, "CALL"),
            (elf::R_RISCV_CALL_PLT, "CALL_PLT"),
            (elf::R_RISCV_RVC_BRANCH, "RVC_BRANCH"),
            (elf::R_RISCV_RVC_JUMP, "RVC_JUMP"),
            (elf::R_RISCV_RELAX, "RELAX"),
            (elf::R_RISCV_SUB6, "SUB6"),
            (elf::R_RISCV_SET6, "SET6"),
            (elf::R_RISCV_SET8, "SET8"),
            (elf::R_RISCV_SET16, "SET16"),
            (elf::R_RISCV_SET32, "SET32"),
        ],
        // Elf32Convert.c (WriteSections32, WriteRelocations32) knows only these three.
        Machine::I386 => &[
            (elf::R_386_NONE, "NONE"),
            (elf::R_386_32, "32"),
            (elf::R_386_PC32, "PC32"),
        ],
    }
}

/// The names of the allowed types used, sorted, and the numbers of the others.
fn sort_relocations(machine: Machine, types: &BTreeSet<u32>) -> (Vec<&'static str>, Vec<u32>) {
    let allowed = allowed_relocations(machine);
    let mut names = Vec::new();
    let mut bad = Vec::new();
    for &r_type in types {
        match allowed.iter().find(|(known, _)| *known == r_type) {
            Some((_, name)) => names.push(*name),
            None => bad.push(r_type),
        }
    }
    names.sort_unstable();
    (names, bad)
}

fn check_elf(machine: Machine, members: &[Member], verdict: &mut Verdict) -> Result<(), Error> {
    let mut types = BTreeSet::new();
    for member in members {
        if !objects::is_relocatable(member)? {
            verdict
                .problems
                .push(format!("{}: not a relocatable object", member.name));
        }
        types.extend(objects::elf_relocation_types(member)?);
    }
    let (names, bad) = sort_relocations(machine, &types);
    if !bad.is_empty() {
        let bad: Vec<String> = bad.iter().map(|r| format!("#{r}")).collect();
        verdict.problems.push(format!(
            "relocation types GenFw does not convert: {}",
            bad.join(" ")
        ));
    }
    verdict.notes.push(format!("relocs {}", names.join(",")));
    Ok(())
}

// --- hazard test --------------------------------------------------------------------------

/// The runtime's wide division: `unsigned __int128` (→ __udivti3) where it exists, else
/// `unsigned long long` (→ __udivdi3 on 32-bit x86).
fn division(t: &Target) -> (&'static str, &'static str) {
    if t.machine == Machine::I386 {
        ("unsigned long long", "__udivdi3")
    } else {
        ("unsigned __int128", "__udivti3")
    }
}

/// The program of the hazard test: its own memcpy/memset (strong), a wide division whose
/// helper comes from the runtime, and every API function referenced, so that the whole library
/// is live in the link (lld-link drops unreferenced sections, and with them the library's
/// memcpy if only realloc calls it).
fn demo_source(t: &Target, api: &[String]) -> String {
    let (wide, helper) = division(t);
    let mut c = format!(
        r#"#include "uefi_pool_alloc.h"
typedef __SIZE_TYPE__ size_t;
void *memcpy(void *d, const void *s, size_t n) {{
    unsigned char *dp = d; const unsigned char *sp = s;
    while (n--) *dp++ = *sp++;
    return d;
}}
void *memset(void *d, int c, size_t n) {{
    unsigned char *dp = d;
    while (n--) *dp++ = (unsigned char)c;
    return d;
}}
#ifdef _WIN32
int _fltused = 1;
#endif
volatile {wide} demo_a = 1000, demo_b = 7;
{wide} demo_q;
extern void *const demo_api[];
char demo_buf[64], demo_src[64];
EFI_STATUS EFIAPI demo_entry(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {{
    demo_q = demo_a / demo_b;                    /* {helper} */
    memcpy(demo_buf, demo_src, sizeof demo_buf);
    memset(demo_buf, 0, sizeof demo_buf);
    void *p = pool_aligned_alloc(64, 64);        /* NULL before pool_init */
    POOL_STATS s;
    pool_stats(&s);
    return pool_init(image, st, POOL_MEMORY_TYPE_DEFAULT) + (p != 0) + (EFI_STATUS)demo_q
           + (EFI_STATUS)demo_api[0];
}}
void *const demo_api[] = {{
"#
    );
    for name in api {
        c.push_str(&format!("    (void *)&{name},\n"));
    }
    c.push_str("};\n");
    c
}

/// The consumer's compiler runtime: found after the library on the link line.
fn runtime_source(t: &Target) -> String {
    let (wide, helper) = division(t);
    format!(
        "{wide} {helper}({wide} a, {wide} b) {{\n    {wide} q = 0;\n    \
         while (a >= b && b) {{ a -= b; q++; }}\n    return q;\n}}\n"
    )
}

/// The symbols the hazard test asks the map about (C names), in the order printed.
fn hazard_symbols(t: &Target) -> [String; 5] {
    let helper = division(t).1;
    [
        "memcpy",
        "memset",
        helper,
        &format!("{PREFIX}memcpy"),
        &format!("{PREFIX}memset"),
    ]
    .map(String::from)
}

/// Each hazard symbol (C name) with the input that defined it in the link, if any.
type Definers = Vec<(String, Option<String>)>;

fn hazard_test(cx: &Context, file: &Path, raw: &Path, verdict: &mut Verdict) {
    match demo_link(cx, file, "artifact") {
        Ok(definers) => {
            let artifact = file.file_name().unwrap_or_default().to_string_lossy();
            verdict
                .problems
                .extend(hazard_problems(cx.target.format, &artifact, &definers));
            verdict
                .notes
                .push(format!("demo link: {}", render(&definers)));
        }
        Err(e) => verdict
            .problems
            .push(format!("hazard test: link failed: {}", truncate(&e, 400))),
    }
    // Contrast: the unprocessed rustc archive in the same link.
    if raw.is_file() {
        let note = match demo_link(cx, raw, "raw") {
            Ok(definers) => render(&definers),
            Err(e) => format!("link fails: {}", first_error(&e)),
        };
        verdict
            .notes
            .push(format!("raw rustc archive instead: {note}"));
    }
}

fn render(definers: &Definers) -> String {
    let pairs: Vec<String> = definers
        .iter()
        .map(|(s, d)| format!("{s}={}", d.as_deref().unwrap_or("none")))
        .collect();
    pairs.join(" ")
}

/// The program's memcpy/memset must be its own and the division helper its runtime's; the
/// library's prefixed copies must come from the artifact (ELF) or a compiler_builtins member of
/// it (COFF). ld.lld names an archive member "libdemo_rt.a(demo_rt.o)", lld-link by its name.
fn hazard_problems(format: Format, artifact: &str, definers: &Definers) -> Vec<String> {
    let (demo, runtime) = match format {
        Format::Coff => ("demo.obj", "demo_rt.obj"),
        Format::Elf => ("demo.o", "libdemo_rt.a(demo_rt.o)"),
    };
    let library = |d: &str| match format {
        Format::Coff => d.starts_with("compiler_builtins-"),
        Format::Elf => d == artifact,
    };
    let wanted: [&dyn Fn(&str) -> bool; 5] = [
        &|d| d == demo,
        &|d| d == demo,
        &|d| d == runtime,
        &library,
        &library,
    ];
    let mut problems = Vec::new();
    for (i, (symbol, definer)) in definers.iter().enumerate() {
        if !definer.as_deref().is_some_and(|d| wanted[i](d)) {
            let whose = if i < 3 {
                "the program's"
            } else {
                "the library's"
            };
            problems.push(format!(
                "hazard test: {whose} {symbol} is not its own: {}",
                render(definers)
            ));
        }
    }
    problems
}

/// Compiles the demo and its runtime, links them with `library`; the definer of each hazard
/// symbol according to the linker's map.
fn demo_link(cx: &Context, library: &Path, tag: &str) -> Result<Definers, Error> {
    let t = cx.target;
    let dir = cx.work.with_extension(tag);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, text: String| {
        fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("demo.c", demo_source(t, cx.api))?;
    write("demo_rt.c", runtime_source(t))?;
    let library =
        std::path::absolute(library).map_err(|e| format!("{}: {e}", library.display()))?;
    let obj = if t.format == Format::Coff { "obj" } else { "o" };
    for name in ["demo", "demo_rt"] {
        let mut clang = cx.tools.clang();
        clang
            .args(c_flags(t, cx.include))
            .arg("-c")
            .arg(format!("{name}.c"))
            .arg("-o")
            .arg(format!("{name}.{obj}"));
        tools::run_in(&dir, &mut clang)?;
    }
    match t.format {
        Format::Coff => link_coff(cx, &dir, &library)?,
        Format::Elf => link_elf(cx, &dir, &library)?,
    }
    let map = fs::read_to_string(dir.join("demo.map")).map_err(|e| format!("demo.map: {e}"))?;
    Ok(hazard_symbols(t)
        .into_iter()
        .map(|s| {
            let definer = definer(&map, t, &t.decorate(&s));
            (s, definer)
        })
        .collect())
}

fn c_flags(t: &Target, include: &Path) -> Vec<String> {
    let mut flags: Vec<String> = [
        &format!("--target={}", t.c_target),
        "-ffreestanding",
        "-fshort-wchar",
        "-fno-stack-protector",
        "-fno-builtin",
        "-O1",
        "-Wall",
        "-Werror",
        &format!("-I{}", include.display()),
    ]
    .map(String::from)
    .into();
    flags.extend(t.c_flags.iter().map(|f| f.to_string()));
    if t.format == Format::Coff {
        // No __chkstk: nothing in the link provides it.
        flags.push("-mno-stack-arg-probe".to_string());
    }
    flags
}

fn link_coff(cx: &Context, dir: &Path, library: &Path) -> Result<(), Error> {
    let machine = match cx.target.machine {
        Machine::X86_64 => "x64",
        Machine::Aarch64 => "arm64",
        Machine::I386 => "x86",
        Machine::Riscv64 => return Err("no COFF link for riscv64".to_string()),
    };
    tools::run_in(
        dir,
        cx.tools
            .llvm("llvm-lib")
            .args(["/nologo", "/out:demo_rt.lib", "demo_rt.obj"]),
    )?;
    let mut link = cx.tools.llvm("lld-link");
    link.args([
        "/nologo",
        "/subsystem:efi_application",
        "/entry:demo_entry",
        "/nodefaultlib",
    ])
    .arg(format!("/machine:{machine}"))
    .args(["/lldmap:demo.map", "/out:demo.efi", "demo.obj"])
    .arg(library)
    .arg("demo_rt.lib");
    tools::run_in(dir, &mut link).map(drop)
}

fn link_elf(cx: &Context, dir: &Path, library: &Path) -> Result<(), Error> {
    // llvm-ar adds to an existing archive: start afresh.
    let _ = fs::remove_file(dir.join("libdemo_rt.a"));
    tools::run_in(
        dir,
        cx.tools
            .llvm("llvm-ar")
            .args(["rcs", "libdemo_rt.a", "demo_rt.o"]),
    )?;
    let mut link: Command = cx.tools.llvm("ld.lld");
    if cx.target.pie {
        link.args(["-pie", "--no-dynamic-linker"]);
    }
    link.args([
        "-e",
        "demo_entry",
        "-Map",
        "demo.map",
        "-o",
        "demo.elf",
        "demo.o",
    ])
    .arg(library)
    .arg("libdemo_rt.a");
    tools::run_in(dir, &mut link).map(drop)
}

// --- linker maps --------------------------------------------------------------------------

/// (symbol, input) for every symbol line of an lld map (ld.lld -Map or lld-link /lldmap): an
/// input section line "…FILE:(SECTION)" is followed by the lines of the symbols it defines,
/// whose last word is the name. The input is FILE's base name ("libx.a(member.o)" for an
/// archive member with ld.lld, the member's name with lld-link).
fn map_symbols(map: &str) -> Vec<(&str, &str)> {
    let mut input = None;
    let mut out = Vec::new();
    for line in map.lines() {
        if let Some(word) = line.split_whitespace().find(|w| w.contains(":(")) {
            let file = &word[..word.find(":(").unwrap_or(word.len())];
            input = Some(file.rsplit('/').next().unwrap_or(file));
        } else if let (Some(input), Some(symbol)) = (input, line.split_whitespace().last()) {
            out.push((symbol, input));
        }
    }
    out
}

/// The input that defined `symbol` (as in the object files), or the input of its COFF weak
/// external default. lld-link lists a weak external under its default's name,
/// `[OUTER].weak.INNER.default[.SUFFIX]`, renamed by the release like any other symbol: so it
/// stands for `symbol` when both name the same C function and both are prefixed or neither.
fn definer(map: &str, t: &Target, symbol: &str) -> Option<String> {
    let symbols = map_symbols(map);
    let exact = symbols.iter().find(|(s, _)| *s == symbol);
    let key = helper_key(t, symbol);
    let weak = || {
        symbols
            .iter()
            .find(|(s, _)| weak_key(t, s).is_some_and(|k| k == key))
    };
    exact.or_else(weak).map(|(_, input)| input.to_string())
}

/// (prefixed, C name without the prefix) of an object-file symbol name.
fn helper_key<'a>(t: &Target, symbol: &'a str) -> (bool, &'a str) {
    let name = t.undecorate(symbol);
    match name.strip_prefix(PREFIX) {
        Some(base) => (true, base),
        None => (false, name),
    }
}

/// The key of the symbol a weak-external default name stands for.
fn weak_key<'a>(t: &Target, name: &'a str) -> Option<(bool, &'a str)> {
    let (outer, rest) = name.split_once(".weak.")?;
    let at = rest.find(".default")?;
    let (inner, suffix) = (&rest[..at], &rest[at + ".default".len()..]);
    if !(suffix.is_empty() || suffix.starts_with('.')) {
        return None;
    }
    let prefixed = match outer {
        "" => false,
        _ if outer == PREFIX || t.undecorate(outer) == PREFIX => true,
        _ => return None,
    };
    Some((prefixed, t.undecorate(inner)))
}

fn first_error(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("error"))
        .unwrap_or(log);
    truncate(line, 300)
}

fn truncate(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    match one_line.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &one_line[..at]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(triple: &str) -> &'static Target {
        Target::by_triple(triple).unwrap()
    }

    fn symbols(defined: &[&str], undefined: &[&str]) -> Symbols {
        Symbols {
            defined: defined.iter().map(|s| s.to_string()).collect(),
            undefined: undefined.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn api() -> Vec<String> {
        vec!["pool_init".to_string(), "pool_fini".to_string()]
    }

    #[test]
    fn elf_reports_any_other_global_definition_and_undefined() {
        let t = target("x86_64-unknown-none");
        let c = classify(
            t,
            &api(),
            &[symbols(&["pool_init", "pool_fini", "memcpy"], &["abort"])],
        );
        assert!(c.missing.is_empty() && c.twice.is_empty(), "{c:?}");
        assert_eq!(c.foreign, ["memcpy"]);
        assert_eq!(c.undefined, ["abort"]);
    }

    #[test]
    fn coff_allows_prefixed_helpers_and_references_between_members() {
        let t = target("x86_64-unknown-uefi");
        let members = [
            symbols(&["pool_init", "pool_fini"], &["__uefi_pool_alloc_memcpy"]),
            symbols(&["__uefi_pool_alloc_memcpy", "memset"], &["__chkstk"]),
        ];
        let c = classify(t, &api(), &members);
        assert_eq!(
            (c.prefixed, c.foreign.as_slice()),
            (1, ["memset".to_string()].as_slice())
        );
        assert_eq!(c.undefined, ["__chkstk"]);
    }

    #[test]
    fn i686_api_is_decorated_and_counted_once() {
        let t = target("i686-unknown-uefi");
        let members = [
            symbols(&["_pool_init", "___uefi_pool_alloc_memcpy"], &[]),
            symbols(&["_pool_init"], &[]),
        ];
        let c = classify(t, &api(), &members);
        assert_eq!(c.missing, ["_pool_fini"]);
        assert_eq!(c.twice, ["_pool_init"]);
        assert_eq!((c.prefixed, c.foreign.len()), (1, 0));
        // Without the decoration the name is not the prefixed helper.
        let c = classify(t, &api(), &[symbols(&["__uefi_pool_alloc_memcpy"], &[])]);
        assert_eq!(c.foreign, ["__uefi_pool_alloc_memcpy"]);
    }

    #[test]
    fn unwind_tables_are_forbidden_on_elf_only() {
        let names: BTreeSet<String> = [".text", ".eh_frame", ".llvmbc"].map(String::from).into();
        assert_eq!(
            forbidden_sections(Format::Elf, &names),
            [".llvmbc", ".eh_frame"]
        );
        assert_eq!(forbidden_sections(Format::Coff, &names), [".llvmbc"]);
    }

    #[test]
    fn register_operands() {
        let count = |machine, text| {
            register_rules(machine)
                .iter()
                .map(|r| count_hits(text, r.hit))
                .collect::<Vec<_>>()
        };
        let arm = concat!(
            "       0: \tmov\tx0, x18\n",
            "       4: \tldr\tw1, [x18, #0x8]\n",
            "       8: \tbl\t0x0 <x18_user>\n",
            "       c: \tmov\tx1, x180\n",
        );
        assert_eq!(count(Machine::Aarch64, arm), [2]);
        let x86 = concat!(
            "  0: \tmovaps\t%xmm0, (%rax)\n",
            "  4: \tmovq\t%rax, -0x8(%rsp)\n",
            "  8: \tmovq\t%rax, 0x8(%rsp)\n",
            "  c: \tmovq\t-0x8(%rbp), %rax\n",
        );
        assert_eq!(count(Machine::X86_64, x86), [1, 1]);
        assert_eq!(
            count(
                Machine::I386,
                "  0: \tmovd\t%eax, %xmm7\n  3: \tmovl\t-0x4(%esp), %eax\n"
            ),
            [1]
        );
        let rv = concat!(
            "  0: \tauipc\ta0, 0x0\n",
            "  4: \tld\ta1, 0x10(gp)\n",
            "  8: \tmv\tgp, a0\n",
            "  c: \tcall\t0x0 <gp>\n",
        );
        assert_eq!(count(Machine::Riscv64, rv), [2]);
    }

    #[test]
    fn relocations_outside_genfw_are_reported() {
        let types: BTreeSet<u32> =
            [elf::R_RISCV_PCREL_HI20, elf::R_RISCV_64, elf::R_RISCV_ALIGN].into();
        assert_eq!(
            sort_relocations(Machine::Riscv64, &types),
            (vec!["64", "PCREL_HI20"], vec![elf::R_RISCV_ALIGN])
        );
        let types: BTreeSet<u32> = [
            elf::R_X86_64_PLT32,
            elf::R_X86_64_64,
            elf::R_X86_64_GOTPCREL,
            elf::R_X86_64_32,
        ]
        .into();
        assert_eq!(
            sort_relocations(Machine::X86_64, &types),
            (vec!["64", "GOTPCREL", "PLT32"], vec![elf::R_X86_64_32])
        );
        // Position-independent i386 code: GenFw's Elf32Convert stops at GOTOFF and GOTPC.
        let types: BTreeSet<u32> = [elf::R_386_32, elf::R_386_GOTOFF, elf::R_386_GOTPC].into();
        assert_eq!(
            sort_relocations(Machine::I386, &types),
            (vec!["32"], vec![elf::R_386_GOTOFF, elf::R_386_GOTPC])
        );
    }

    const LLD_LINK_MAP: &str = "\
Address  Size     Align Out     In      Symbol
00001000 000041a9  4096 .text
00001000 00000140    16         C:/w/demo.obj:(.text)
00001000 00000000     0                 memcpy
00004a30 00000000     0                 __udivti3
00004ae8 00000000     4         compiler_builtins-f.cgu.160.rcgu.o:(.text)
00004af0 00000000     0                 __uefi_pool_alloc_.weak.memcpy.default
00004af0 00000000     0                 .weak.memset.default
00005000 00000010    16         demo_rt.obj:(.text)
00005000 00000000     0                 __udivti3
";

    #[test]
    fn map_definers_with_weak_defaults() {
        let t = target("x86_64-unknown-uefi");
        let def = |s| definer(LLD_LINK_MAP, t, s);
        assert_eq!(def("memcpy").as_deref(), Some("demo.obj"));
        // The first definition in the map wins, as in the link.
        assert_eq!(def("__udivti3").as_deref(), Some("demo.obj"));
        assert_eq!(
            def("__uefi_pool_alloc_memcpy").as_deref(),
            Some("compiler_builtins-f.cgu.160.rcgu.o")
        );
        assert_eq!(
            def("memset").as_deref(),
            Some("compiler_builtins-f.cgu.160.rcgu.o")
        );
        assert_eq!(def("__uefi_pool_alloc_memset"), None);
    }

    #[test]
    fn i686_weak_defaults_carry_a_suffix_and_decoration() {
        let t = target("i686-unknown-uefi");
        let map = concat!(
            "00001000 0 4  cb-1.rcgu.o:(.text)\n",
            "00001000 0 0  ___uefi_pool_alloc_.weak._memcpy.default.__RNvCs_probestack\n",
        );
        assert_eq!(
            definer(map, t, "___uefi_pool_alloc_memcpy").as_deref(),
            Some("cb-1.rcgu.o")
        );
        assert_eq!(definer(map, t, "_memcpy"), None);
    }

    #[test]
    fn ld_lld_map_names_archive_members() {
        let map = concat!(
            "      5870  5870  55 16  /tmp/x/libdemo_rt.a(demo_rt.o):(.text)\n",
            "      5870  5870  55  1  __udivti3\n",
        );
        assert_eq!(map_symbols(map), [("__udivti3", "libdemo_rt.a(demo_rt.o)")]);
    }

    #[test]
    fn hazard_expectations() {
        let good: Definers = [
            ("memcpy", "demo.o"),
            ("memset", "demo.o"),
            ("__udivti3", "libdemo_rt.a(demo_rt.o)"),
            ("__uefi_pool_alloc_memcpy", "uefi_pool_alloc.o"),
            ("__uefi_pool_alloc_memset", "uefi_pool_alloc.o"),
        ]
        .map(|(s, d)| (s.to_string(), Some(d.to_string())))
        .into();
        assert!(hazard_problems(Format::Elf, "uefi_pool_alloc.o", &good).is_empty());
        let mut bad = good.clone();
        bad[2].1 = Some("libuefi_pool_alloc.a(compiler_builtins-1.o)".to_string());
        bad[4].1 = None;
        let problems = hazard_problems(Format::Elf, "uefi_pool_alloc.o", &bad);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("program's __udivti3"));
        // On COFF the library's copies come from one of its members.
        assert_eq!(
            hazard_problems(Format::Coff, "uefi_pool_alloc.lib", &good).len(),
            5
        );
    }

    #[test]
    fn demo_sources_per_target() {
        let i686 = demo_source(target("i686-unknown-uefi"), &api());
        assert!(
            i686.contains("volatile unsigned long long demo_a")
                && i686.contains("(void *)&pool_fini,")
        );
        assert!(
            runtime_source(target("x86_64-unknown-none"))
                .starts_with("unsigned __int128 __udivti3(")
        );
        assert_eq!(hazard_symbols(target("i686-unknown-uefi"))[2], "__udivdi3");
    }
}
