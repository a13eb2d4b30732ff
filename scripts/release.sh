#!/usr/bin/env bash
# Build the C static library for every firmware target from one source and lay it out as a
# release directory whose artifacts export nothing but the API.
#
#   scripts/release.sh
#
# Output (RELEASE_DIR, default build/release/):
#   lib/x86_64-unknown-uefi/uefi_pool_alloc.lib    COFF archive  (EDK2 CLANGPDB/MSFT, lld-link)
#   lib/aarch64-unknown-uefi/uefi_pool_alloc.lib   COFF archive
#   lib/x86_64-unknown-none/uefi_pool_alloc.o      ELF relocatable object, prelinked
#   lib/aarch64-unknown-none/uefi_pool_alloc.o     (EDK2 GCC5/GCC/CLANGDWARF/CLANG38, gnu-efi)
#   include/uefi_pool_alloc.h                      the one header for all four
#   edk2-pkg/UefiPoolAllocPkg/                     the EDK2 package, when its prebuilts match the
#                                                  sources (scripts/edk2-refresh.sh makes them)
#   manifest.txt, manifest.json                    target, format, machine, ABI, sizes, sha256
#
# Symbol hygiene (a consumer links the artifact next to its own compiler runtime):
#   ELF   `ld.lld -r --gc-sections` keeps only what the API functions reach (rooted with -u for
#         each API function), into one object; every global but the API is made local and
#         renamed with HELPER_PREFIX, so the library's memcpy/memset are its own and invisible.
#   COFF  lld-link has no relocatable link, so the archive keeps separate members: only those
#         the API reaches (transitive closure over undefined symbols), in each of which every
#         external symbol but the API, definitions and references alike, is renamed with
#         HELPER_PREFIX (`llvm-objcopy --redefine-syms`), then repacked with llvm-lib.
#   Both  .llvmbc/.llvmcmd (embedded bitcode) and debug info are removed; on the ELF targets
#         .eh_frame too (panic = "abort": nothing unwinds; GenFw rejects it on AArch64).
# The API is every export of the Rust sources, which the header must declare (cargo xtask api:
# one list for this script, the symbol checks and the EDK2 stamp). scripts/check-symbols.sh verifies the
# result (run at the end; SKIP_CHECK=1 skips it).
#
# aarch64-unknown-none is built with nightly -Zbuild-std and -Zfixed-x18 (UEFI reserves x18;
# the prebuilt compiler_builtins of that target uses it). The other three use the stable
# toolchain and its prebuilt core/compiler_builtins.
#
# Environment: RELEASE_DIR, CARGO_TARGET_DIR (default target/release-pkg, apart from the
# other scripts' target/ so that builds do not wait on each other), NIGHTLY (nightly),
# LLVM_SUFFIX (-19), SKIP_CHECK.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$repo/scripts/lib.sh"
cd "$repo"

: "${RELEASE_DIR:=build/release}"
: "${CARGO_TARGET_DIR:=target/release-pkg}"
: "${NIGHTLY:=nightly}"
: "${LLVM_SUFFIX:=-19}"
export CARGO_TARGET_DIR
OBJCOPY=llvm-objcopy$LLVM_SUFFIX
NM=llvm-nm$LLVM_SUFFIX
LLVM_LIB=llvm-lib$LLVM_SUFFIX
LD_LLD=ld.lld$LLVM_SUFFIX
READELF=llvm-readelf$LLVM_SUFFIX
READOBJ=llvm-readobj$LLVM_SUFFIX
AR=llvm-ar$LLVM_SUFFIX

# Prefix of every renamed runtime helper: memcpy becomes __uefi_pool_alloc_memcpy.
HELPER_PREFIX=__uefi_pool_alloc_
HEADER=include/uefi_pool_alloc.h
TARGETS=(x86_64-unknown-uefi aarch64-unknown-uefi x86_64-unknown-none aarch64-unknown-none)

log() { printf 'release: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in "$OBJCOPY" "$NM" "$LLVM_LIB" "$LD_LLD" "$READELF" "$READOBJ" "$AR" sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/setup.sh installs it)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/release.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- header and API list -----------------------------------------------------------------------
# The committed header must be what src/ffi.rs generates: it is shipped beside the objects.
cargo xtask header --check || die "$HEADER is stale: run cargo xtask header"
# The header declares functions EDK2 style: the name starts a line, followed by " (".
mapfile -t API < <(api_functions)
[ "${#API[@]}" -gt 0 ] || die "no API: the exports of src/ and capi/ and $HEADER disagree (above)"
log "API (${#API[@]} functions): ${API[*]}"
printf '%s\n' "${API[@]}" > "$work/api.txt"

# --- build ---------------------------------------------------------------------------------------
build_target() {
    local target=$1
    case $target in
        aarch64-unknown-none)
            # RUSTFLAGS for this target only (also reaches the std crates -Zbuild-std compiles).
            CARGO_TARGET_AARCH64_UNKNOWN_NONE_RUSTFLAGS="-Zfixed-x18" \
                cargo "+$NIGHTLY" build --quiet --release -p uefi-pool-alloc-capi \
                --target "$target" -Zbuild-std=core,compiler_builtins \
                -Zbuild-std-features=compiler-builtins-mem
            ;;
        *)
            cargo build --quiet --release -p uefi-pool-alloc-capi --target "$target"
            ;;
    esac
}

# --- symbol maps ---------------------------------------------------------------------------------
# "old new" lines for llvm-objcopy --redefine-syms: every name in $1 (one a line) that is not
# an API function gets the prefix.
rename_map() {
    grep -vxF -f "$work/api.txt" "$1" | sort -u | awk -v p="$HELPER_PREFIX" 'NF { print $1, p $1 }' || true
}

# --- ELF: one prelinked object ---------------------------------------------------------------------
make_elf() {
    local target=$1 archive=$2 out=$3 tmp=$work/$1
    mkdir -p "$tmp"
    local -a roots=() keep=()
    local s
    for s in "${API[@]}"; do
        roots+=(-u "$s")
        keep+=("--keep-global-symbol=$s")
    done
    # Only the archive members and sections the API reaches; no --whole-archive.
    "$LD_LLD" -r --gc-sections "${roots[@]}" -o "$tmp/prelinked.o" "$archive"
    # Every global definition but the API, before localisation (so it can be renamed after).
    "$NM" --defined-only --extern-only --format=just-symbols "$tmp/prelinked.o" > "$tmp/globals.txt"
    rename_map "$tmp/globals.txt" > "$tmp/rename.map"
    local -a strip=(--strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd
                    --remove-section=.eh_frame --remove-section=.rela.eh_frame)
    "$OBJCOPY" "${strip[@]}" "${keep[@]}" "$tmp/prelinked.o" "$tmp/local.o"
    "$OBJCOPY" --redefine-syms="$tmp/rename.map" "$tmp/local.o" "$out"
}

# --- COFF: the members the API reaches, helpers renamed ----------------------------------------------
make_coff() {
    local target=$1 archive=$2 out=$3 tmp=$work/$1
    mkdir -p "$tmp/members" "$tmp/renamed"
    # Member names are unique in a rustc archive (crate hash, CGU number); check anyway.
    if [ -n "$("$AR" t "$archive" | sort | uniq -d)" ]; then
        die "$archive has duplicate member names"
    fi
    (cd "$tmp/members" && "$AR" x "$(cd "$repo" && realpath "$archive")")
    local m
    # Symbol tables: "member symbol" for global definitions and for undefined references.
    : > "$tmp/defs"; : > "$tmp/undefs"
    for m in "$tmp"/members/*; do
        "$NM" --defined-only --extern-only --format=just-symbols "$m" |
            awk -v m="${m##*/}" 'NF { print m, $1 }' >> "$tmp/defs"
        "$NM" --undefined-only --format=just-symbols "$m" |
            awk -v m="${m##*/}" 'NF { print m, $1 }' >> "$tmp/undefs"
    done
    # Closure: start from the members defining API functions, add the members defining what
    # the selected ones reference, until nothing new comes in.
    awk 'NR == FNR { api[$1] = 1; next } ($2 in api) { print $1 }' "$work/api.txt" "$tmp/defs" |
        sort -u > "$tmp/selected"
    local before=0 after
    after=$(wc -l < "$tmp/selected")
    while [ "$after" != "$before" ]; do
        before=$after
        awk 'FILENAME == ARGV[1] { sel[$1] = 1; next }
             FILENAME == ARGV[2] { if ($1 in sel) need[$2] = 1; next }
             ($2 in need) { print $1 }' "$tmp/selected" "$tmp/undefs" "$tmp/defs" |
            sort -u | cat - "$tmp/selected" | sort -u > "$tmp/selected.new"
        mv "$tmp/selected.new" "$tmp/selected"
        after=$(wc -l < "$tmp/selected")
    done
    # Nothing may stay unresolved: the artifact must be self-contained.
    local unresolved
    unresolved=$(awk 'FILENAME == ARGV[1] { sel[$1] = 1; next }
                      FILENAME == ARGV[2] { if ($1 in sel) def[$2] = 1; next }
                      ($1 in sel) && !($2 in def) { print $2 }' \
                 "$tmp/selected" "$tmp/defs" "$tmp/undefs" | sort -u)
    [ -z "$unresolved" ] || die "$target: unresolved symbols: $unresolved"
    # A strong symbol defined by two selected members would be a link error for the consumer.
    local dups
    dups=$(awk 'NR == FNR { sel[$1] = 1; next } ($1 in sel) { print $2 }' "$tmp/selected" "$tmp/defs" |
           sort | uniq -d)
    [ -z "$dups" ] || die "$target: symbols defined by more than one selected member: $dups"
    # Every external name of the selected members, defined or referenced, except the API.
    awk 'NR == FNR { sel[$1] = 1; next } ($1 in sel) { print $2 }' "$tmp/selected" "$tmp/defs" "$tmp/undefs" \
        > "$tmp/names"
    rename_map "$tmp/names" > "$tmp/rename.map"
    # Linker directives could name symbols behind objcopy's back (/alternatename, /export).
    local -a objs=()
    while read -r m; do
        if "$READOBJ" --sections "$tmp/members/$m" | grep -q 'Name: \.drectve'; then
            die "$target: member $m has a .drectve section; renaming would not cover it"
        fi
        "$OBJCOPY" --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd \
            --redefine-syms="$tmp/rename.map" "$tmp/members/$m" "$tmp/renamed/$m"
        objs+=("$m")
    done < "$tmp/selected"
    rm -f "$out"
    # Relative member names (llvm-lib stores them as given), in a fixed order.
    # llvm-lib names members relative to the output's directory: write the archive next to
    # the members, then move it.
    (cd "$tmp/renamed" && "$LLVM_LIB" /nologo /out:uefi_pool_alloc.lib "${objs[@]}")
    mv "$tmp/renamed/uefi_pool_alloc.lib" "$out"
    log "$target: ${#objs[@]} of $("$AR" t "$archive" | wc -l) archive members kept, $(wc -l < "$tmp/rename.map") symbols renamed"
}

# --- sizes --------------------------------------------------------------------------------------
# "text rodata data bss" bytes of an ELF object or of all members of a COFF archive, from the
# section headers (llvm-readobj, decimal sizes): text = executable, bss = no file contents,
# data = writable, rodata = the other loadable ones. Debug/metadata sections do not count.
section_sizes() {
    "$READOBJ" --sections "$1" | awk '
        /^ *Section \{/ { insec = 1; size = 0; alloc = 0; code = 0; write = 0; nobits = 0; coff = 0; skip = 0; next }
        !insec { next }
        /^ *Size: / { size = $2 }
        /^ *RawDataSize: / { size = $2; coff = 1 }
        /SHF_ALLOC/ { alloc = 1 }
        /SHF_EXECINSTR|IMAGE_SCN_CNT_CODE/ { code = 1 }
        /SHF_WRITE|IMAGE_SCN_MEM_WRITE/ { write = 1 }
        /Type: SHT_NOBITS|IMAGE_SCN_CNT_UNINITIALIZED_DATA/ { nobits = 1 }
        /IMAGE_SCN_MEM_DISCARDABLE|IMAGE_SCN_LNK_INFO|IMAGE_SCN_LNK_REMOVE/ { skip = 1 }
        /^ *\}/ {
            insec = 0
            if (coff ? skip : !alloc) next
            if (code) t += size; else if (nobits) b += size; else if (write) d += size; else r += size
        }
        END { printf "%d %d %d %d\n", t, r, d, b }'
}

# --- main ---------------------------------------------------------------------------------------
rm -rf "$RELEASE_DIR"
mkdir -p "$RELEASE_DIR/include" "$RELEASE_DIR/lib"
cp "$HEADER" "$RELEASE_DIR/include/"

rustc_stable=$(rustc --version)
rustc_nightly=$(rustc "+$NIGHTLY" --version)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit+dirty"; fi

manifest_rows=()
for target in "${TARGETS[@]}"; do
    log "$target: building (release)"
    build_target "$target"
    archive=$CARGO_TARGET_DIR/$target/release/libuefi_pool_alloc.a
    dir=$RELEASE_DIR/lib/$target
    mkdir -p "$dir"
    case $target in
        *-uefi)
            format=COFF
            out=$dir/uefi_pool_alloc.lib
            make_coff "$target" "$archive" "$out"
            ;;
        *-none)
            format=ELF
            out=$dir/uefi_pool_alloc.o
            make_elf "$target" "$archive" "$out"
            ;;
    esac
    case $target in
        x86_64-*) machine=x86_64 abi="EFIAPI = Microsoft x64 (ms_abi); soft-float, no red zone" ;;
        aarch64-*) machine=aarch64 abi="EFIAPI = AAPCS64; x18 untouched" ;;
    esac
    read -r text rodata data bss < <(section_sizes "$out")
    bytes=$(stat -c %s "$out")
    sum=$(sha256sum "$out" | cut -d' ' -f1)
    toolchain=$rustc_stable
    [ "$target" = aarch64-unknown-none ] && toolchain="$rustc_nightly -Zbuild-std -Zfixed-x18"
    manifest_rows+=("$target|$format|$machine|$abi|${out#"$RELEASE_DIR"/}|$bytes|$text|$rodata|$data|$bss|$sum|$toolchain")
    log "$target: $out: $bytes bytes; text $text, rodata $rodata, data $data, bss $bss"
done

# manifest.txt: one tab-separated row per artifact under a header row; manifest.json: the same.
{
    printf '# uefi-pool-alloc %s release, commit %s\n' \
        "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)" "$commit"
    printf '# header include/uefi_pool_alloc.h sha256 %s; API: %s\n' \
        "$(sha256sum "$HEADER" | cut -d' ' -f1)" "${API[*]}"
    printf 'target\tformat\tmachine\tabi\tfile\tbytes\ttext\trodata\tdata\tbss\tsha256\ttoolchain\n'
    for row in "${manifest_rows[@]}"; do
        printf '%s\n' "$row" | tr '|' '\t'
    done
} > "$RELEASE_DIR/manifest.txt"

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
{
    printf '{\n  "name": "uefi-pool-alloc",\n  "commit": %s,\n' "$(json_str "$commit")"
    printf '  "header": {"file": "include/uefi_pool_alloc.h", "sha256": %s},\n' \
        "$(json_str "$(sha256sum "$HEADER" | cut -d' ' -f1)")"
    printf '  "api": ['
    sep=
    for s in "${API[@]}"; do printf '%s%s' "$sep" "$(json_str "$s")"; sep=', '; done
    printf '],\n  "helper_prefix": %s,\n  "artifacts": [\n' "$(json_str "$HELPER_PREFIX")"
    n=${#manifest_rows[@]} i=0
    for row in "${manifest_rows[@]}"; do
        IFS='|' read -r target format machine abi file bytes text rodata data bss sum toolchain <<<"$row"
        i=$((i + 1))
        printf '    {"target": %s, "format": %s, "machine": %s, "abi": %s, "file": %s,\n' \
            "$(json_str "$target")" "$(json_str "$format")" "$(json_str "$machine")" \
            "$(json_str "$abi")" "$(json_str "$file")"
        printf '     "bytes": %d, "text": %d, "rodata": %d, "data": %d, "bss": %d,\n' \
            "$bytes" "$text" "$rodata" "$data" "$bss"
        printf '     "sha256": %s, "toolchain": %s}%s\n' "$(json_str "$sum")" "$(json_str "$toolchain")" \
            "$([ "$i" -lt "$n" ] && echo ,)"
    done
    printf '  ]\n}\n'
} > "$RELEASE_DIR/manifest.json"

# The EDK2 package, self-contained (the test app's shared sources copied, not linked), if its
# prebuilts are the ones these sources make; edk2-refresh.sh runs this script before it copies
# new prebuilts in, so a stale package is left out with a note rather than an error.
rm -rf "$RELEASE_DIR/edk2-pkg"
if "$repo/scripts/edk2-refresh.sh" --check >/dev/null 2>&1; then
    mkdir -p "$RELEASE_DIR/edk2-pkg"
    cp -rL "$repo/edk2-pkg/UefiPoolAllocPkg" "$RELEASE_DIR/edk2-pkg/"
else
    log "edk2-pkg left out: its prebuilts are stale (scripts/edk2-refresh.sh refreshes them)"
fi

# What release_artifact compares to tell whether these artifacts are current.
upa_source_hash > "$RELEASE_DIR/.source-hash"

log "wrote $RELEASE_DIR:"
(cd "$RELEASE_DIR" && find . -type f | sort | sed 's/^/  /') >&2

if [ "${SKIP_CHECK:-0}" != 1 ]; then
    log "checking symbols"
    "$repo/scripts/check-symbols.sh" "$RELEASE_DIR"
fi
