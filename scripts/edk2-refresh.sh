#!/usr/bin/env bash
# Refresh the EDK2 package's prebuilt Rust library from the Rust sources, or check that it is
# fresh.
#
#   scripts/edk2-refresh.sh            run scripts/release.sh, then copy its four artifacts and
#                                      the generated header into edk2-pkg/UefiPoolAllocPkg
#   scripts/edk2-refresh.sh --no-build copy what build/release/ holds now (no release.sh run)
#   scripts/edk2-refresh.sh --check    change nothing; fail unless the package's prebuilts, its
#                                      stamp and its copy of the header match the sources
#
# What lands in edk2-pkg/UefiPoolAllocPkg:
#   Library/UefiPoolAllocLib/Prebuilt/{X64,AARCH64}/UefiPoolAlloc.o    ELF (GCC family)
#   Library/UefiPoolAllocLib/Prebuilt/{X64,AARCH64}/UefiPoolAlloc.lib  COFF (CLANGPDB, MSFT)
#   Library/UefiPoolAllocLib/Prebuilt/UefiPoolAllocPrebuilt.h          the stamp (below)
#   Include/Library/UefiPoolAllocLib/uefi_pool_alloc.h                 include/uefi_pool_alloc.h
#
# The stamp: H = upa_source_hash (lib.sh), the hash of everything the artifacts are built
# from. Each prebuilt gets one extra member defining the symbol UefiPoolAllocPrebuilt_<H:16>,
# holding H; the stamp names that symbol, and the library's shim includes the stamp and reads the
# symbol. So an EDK2 build links only prebuilts made by the same refresh as the stamp (a foreign
# or hand-copied one fails to link with "undefined reference to UefiPoolAllocPrebuilt_..."),
# and a refresh always changes a header the shim includes, so EDK2 re-archives the library even
# in an incremental build. The stamp also records each file's SHA-256, which --check verifies,
# with H against the current sources.
#
# Environment: RELEASE_DIR (as release.sh: default build/release), CLANG (clang-19), LLVM_BIN.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh
# shellcheck source=edk2-lib.sh source-path=SCRIPTDIR
. scripts/edk2-lib.sh

: "${CLANG:=clang-19}"
release_dir=${RELEASE_DIR:-build/release}
case $release_dir in /*) ;; *) release_dir=$repo/$release_dir ;; esac
mode=refresh
case ${1:-} in
    '') ;;
    --no-build) mode=copy ;;
    --check) mode=check ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) upa_log "edk2-refresh: unknown argument '$1' (see --help)"; exit 2 ;;
esac

rel() { printf '%s' "${1#"$repo"/}"; }

# --- check -----------------------------------------------------------------------------------
check() {
    local problems=0 hash stamp_hash line file sum actual
    if [ ! -r "$UPA_EDK2_STAMP" ]; then
        upa_log "edk2-refresh: $(rel "$UPA_EDK2_STAMP") missing"
        return 1
    fi
    hash=$(upa_source_hash)
    stamp_hash=$(sed -n 's/^#define UEFI_POOL_ALLOC_PREBUILT_SOURCE_HASH  *"\([0-9a-f]*\)"$/\1/p' "$UPA_EDK2_STAMP")
    if [ "$hash" != "$stamp_hash" ]; then
        upa_log "edk2-refresh: the prebuilts were built from other sources (stamp ${stamp_hash:0:16}, sources now ${hash:0:16})"
        problems=1
    fi
    # "  <sha256>  <file>" lines.
    while read -r line; do
        sum=${line%% *} file=${line#*  }
        if [ ! -r "$UPA_EDK2_PREBUILT/$file" ]; then
            upa_log "edk2-refresh: Prebuilt/$file missing"
            problems=1
            continue
        fi
        actual=$(sha256sum "$UPA_EDK2_PREBUILT/$file" | cut -d' ' -f1)
        if [ "$actual" != "$sum" ]; then
            upa_log "edk2-refresh: Prebuilt/$file is not the file of the last refresh"
            problems=1
        fi
    done < <(sed -n 's|^  \([0-9a-f]\{64\}  .*\)$|\1|p' "$UPA_EDK2_STAMP")
    if [ "$(grep -c '^  [0-9a-f]\{64\}  ' "$UPA_EDK2_STAMP")" -ne "${#UPA_EDK2_PREBUILTS[@]}" ]; then
        upa_log "edk2-refresh: the stamp does not list the ${#UPA_EDK2_PREBUILTS[@]} prebuilts"
        problems=1
    fi
    if ! cmp -s include/uefi_pool_alloc.h "$UPA_EDK2_HEADER"; then
        upa_log "edk2-refresh: $(rel "$UPA_EDK2_HEADER") differs from include/uefi_pool_alloc.h"
        problems=1
    fi
    if [ "$problems" -ne 0 ]; then
        upa_log "edk2-refresh: the EDK2 package is stale: run scripts/edk2-refresh.sh"
        return 1
    fi
    upa_log "edk2-refresh: the EDK2 package's prebuilts match the sources (${hash:0:16})"
}

if [ "$mode" = check ]; then
    check
    exit
fi

# --- refresh ---------------------------------------------------------------------------------
if [ "$mode" = refresh ]; then
    [ -x scripts/release.sh ] || { upa_log "edk2-refresh: scripts/release.sh not found"; exit 1; }
    upa_log "edk2-refresh: building the release artifacts (scripts/release.sh)"
    scripts/release.sh >&2
fi

hash=$(upa_source_hash)
id=UefiPoolAllocPrebuilt_${hash:0:16}
work=$(mktemp -d "${TMPDIR:-/tmp}/edk2-refresh.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The identity member: const data, no code, so it adds nothing the firmware build could object
# to (no relocations, no unwind tables).
printf 'const unsigned char %s[65] = "%s";\n' "$id" "$hash" > "$work/id.c"
# -mno-incremental-linker-compatible: no time stamp in the COFF header, so that a refresh of
# unchanged sources reproduces the same bytes.
id_object() {   # clang target, output
    "$CLANG" --target="$1" -ffreestanding -fno-ident -fno-asynchronous-unwind-tables \
        -fno-unwind-tables -mno-incremental-linker-compatible -O2 -c "$work/id.c" -o "$2"
}

sums=()
for entry in "${UPA_EDK2_PREBUILTS[@]}"; do
    read -r target file dest <<<"$entry"
    src=$release_dir/lib/$target/$file
    [ -r "$src" ] || { upa_log "edk2-refresh: $src missing (run scripts/release.sh)"; exit 1; }
    case $target in
        x86_64-*) arch=x86_64 ;;
        aarch64-*) arch=aarch64 ;;
    esac
    dir=$work/$(dirname "$dest")
    mkdir -p "$dir"
    case $file in
        *.o)
            id_object "$arch-unknown-none-elf" "$dir/UefiPoolAllocPrebuiltId.o"
            "$LLVM_BIN/ld.lld" -r "$src" "$dir/UefiPoolAllocPrebuiltId.o" -o "$work/$dest"
            ;;
        *.lib)
            # Run where the object is, so that its member name carries no directory.
            id_object "$arch-unknown-windows" "$dir/UefiPoolAllocPrebuiltId.obj"
            (cd "$dir" && "$LLVM_BIN/llvm-lib" /nologo "/out:$work/$dest" "$src" UefiPoolAllocPrebuiltId.obj)
            ;;
    esac
    sums+=("$(cd "$work" && sha256sum "$dest")")
done

mkdir -p "$UPA_EDK2_PREBUILT" "$(dirname "$UPA_EDK2_HEADER")"
for entry in "${UPA_EDK2_PREBUILTS[@]}"; do
    read -r _ _ dest <<<"$entry"
    mkdir -p "$UPA_EDK2_PREBUILT/$(dirname "$dest")"
    cp "$work/$dest" "$UPA_EDK2_PREBUILT/$dest"
done
cp include/uefi_pool_alloc.h "$UPA_EDK2_HEADER"
rustc_version=$(rustc -V)
{
    cat <<EOF
/** @file
  Identity of the prebuilt uefi-pool-alloc archives beside this file. Generated by
  scripts/edk2-refresh.sh together with them: do not edit.

  UEFI_POOL_ALLOC_PREBUILT_SOURCE_HASH is the SHA-256 of the Rust sources they were built from
  (scripts/edk2-refresh.sh --check compares it with the sources); every prebuilt defines the
  symbol UEFI_POOL_ALLOC_PREBUILT_ID, which UefiPoolAllocLib.c reads, so prebuilts of another
  refresh fail to link.

  Built with: $rustc_version
  SHA-256 of the prebuilts:
EOF
    printf '  %s\n' "${sums[@]}"
    cat <<EOF
**/

#ifndef UEFI_POOL_ALLOC_PREBUILT_H_
#define UEFI_POOL_ALLOC_PREBUILT_H_

#define UEFI_POOL_ALLOC_PREBUILT_SOURCE_HASH  "$hash"
#define UEFI_POOL_ALLOC_PREBUILT_ID           $id
#define UEFI_POOL_ALLOC_PREBUILT_ID_BYTE      '${hash:0:1}'

#endif
EOF
} > "$work/stamp.h"
cp "$work/stamp.h" "$UPA_EDK2_STAMP"

for entry in "${UPA_EDK2_PREBUILTS[@]}"; do
    read -r _ _ dest <<<"$entry"
    upa_log "edk2-refresh: Prebuilt/$dest $(stat -c %s "$UPA_EDK2_PREBUILT/$dest") bytes"
done
upa_log "edk2-refresh: stamp ${hash:0:16}; header copied"
check
