# shellcheck shell=bash
# Helpers of the EDK2 scripts (edk2-test.sh, check-header.sh). Source it after lib.sh.
#
#   edk2_upstream
#       Print the path of a current upstream EDK2 tree, from EDK2_UPSTREAM: a tarball (unpacked
#       once into the cache, never into the repository) or a directory (an EDK2 checkout, used
#       in place). Unset, ../shared/edk2/edk2-*.tar.xz beside the repository is used if there.
#       Without either, says why on stderr and returns 3.
#   edk2_basetools TREE
#       Build TREE's BaseTools once (~46 s on 2 cores; without the Brotli submodule, the C tools
#       but BrotliCompress, which nothing here uses); later calls only check the marker.
#       Serialised with flock.
#   edk2_toolchains TREE ARCH
#       Print the toolchains TREE defines for ARCH among those the package supports here:
#       GCC5 CLANG38 (EDK2 before stable202605), GCC GCCNOLTO (after), CLANGDWARF CLANGPDB.
#   edk2_env TREE WORKSPACE
#       Set up the environment of an EDK2 build in the current shell: WORKSPACE (build outputs,
#       Conf/), PACKAGES_PATH (TREE and edk2-pkg/), EDK_TOOLS_PATH, the compiler variables of
#       both generations (CLANG_BIN, CLANG38_BIN, CLANGDWARF_BIN, the AArch64 prefixes of
#       GCC5, GCC and GCCNOLTO, the RISC-V 64 ones of GCC5 and GCC), the AArch64 LTO helper
#       archive where the tree's tools_def looks for it under WORKSPACE, then sources
#       edksetup.sh (from inside this function, without set -eu, as it requires).

# Used by the scripts that source this file.
# shellcheck disable=SC2034
UPA_REPO=${UPA_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
: "${LLVM_BIN:=/usr/lib/llvm-19/bin}"

edk2_upstream() {
    local source=${EDK2_UPSTREAM:-}
    if [ -z "$source" ]; then
        source=$(find "$UPA_REPO/../shared/edk2" -maxdepth 1 -name 'edk2-*.tar.xz' 2>/dev/null | sort | tail -n 1)
        if [ -z "$source" ]; then
            upa_log "edk2: no current upstream EDK2 tree: EDK2_UPSTREAM is unset and ../shared/edk2 has no" \
                    "edk2-*.tar.xz; set EDK2_UPSTREAM to an EDK2 checkout or tarball to test against it"
            return 3
        fi
    fi
    if [ -d "$source" ]; then
        [ -r "$source/edksetup.sh" ] || { upa_log "edk2: EDK2_UPSTREAM=$source has no edksetup.sh"; return 1; }
        printf '%s\n' "$(cd "$source" && pwd)"
        return 0
    fi
    [ -r "$source" ] || { upa_log "edk2: EDK2_UPSTREAM=$source: no such tarball or directory"; return 1; }
    upa_cache_fill "edk2-upstream/$(basename "$source" | sed -E 's/\.tar(\.[a-z0-9]+)?$//')" \
        edk2_unpack "$source"
}

# edk2_unpack WORK TARBALL: the EDK2 tree in TARBALL as WORK/result (upa_cache_fill).
edk2_unpack() {
    local work=$1 tarball=$2 top
    upa_log "edk2: unpacking $tarball into the cache"
    mkdir "$work/x"
    tar -xf "$tarball" -C "$work/x"
    # The tree is the tarball's one top directory, or the tarball itself.
    top=$(find "$work/x" -mindepth 1 -maxdepth 1)
    if [ "$(printf '%s\n' "$top" | wc -l)" = 1 ] && [ -d "$top" ]; then
        mv "$top" "$work/result"
    else
        mv "$work/x" "$work/result"
    fi
    [ -r "$work/result/edksetup.sh" ] || { upa_log "edk2: $tarball holds no EDK2 tree"; return 1; }
    basename "$tarball" > "$work/result/.upa-complete"
}

edk2_basetools() {
    local tree=$1
    local marker=$tree/BaseTools/.upa-basetools-built
    [ -e "$marker" ] && return 0
    (
        set -euo pipefail
        exec 9>"$tree/BaseTools/.upa-basetools.lock"
        flock 9
        [ -e "$marker" ] && exit 0
        local start=$SECONDS
        local -a what=(-C "$tree/BaseTools")
        if [ -z "$(ls -A "$tree/BaseTools/Source/C/BrotliCompress/brotli" 2>/dev/null)" ] &&
           grep -q '^APPLICATIONS' "$tree/BaseTools/Source/C/GNUmakefile"; then
            # A tree without its submodules (a tarball): every C tool but BrotliCompress.
            local apps
            apps=$(tr -d '\r' < "$tree/BaseTools/Source/C/GNUmakefile" |
                   awk '/^APPLICATIONS *=/ { on = 1; sub(/^APPLICATIONS *=/, "") }
                        on { more = /\\$/; gsub(/\\/, ""); printf "%s ", $0; if (!more) exit }' |
                   tr -s ' \t' '\n' | grep -vx -e '' -e BrotliCompress | paste -sd' ')
            what=(-C "$tree/BaseTools/Source/C" "APPLICATIONS=$apps")
        fi
        upa_log "edk2: building BaseTools in $tree/BaseTools (once; ~1 min)"
        make "${what[@]}" -j"$(nproc)" > "$tree/BaseTools/.upa-basetools.log" 2>&1 || {
            tail -n 30 "$tree/BaseTools/.upa-basetools.log" >&2
            upa_log "edk2: BaseTools build failed (log: $tree/BaseTools/.upa-basetools.log)"
            exit 1
        }
        date -u +%FT%TZ > "$marker"
        upa_log "edk2: BaseTools built in $((SECONDS - start)) s"
    )
}

edk2_toolchains() {
    local tree=$1 arch=$2 tc
    for tc in GCC5 GCC GCCNOLTO CLANGDWARF CLANGPDB CLANG38; do
        if grep -qE "^[A-Z*]+_${tc}_${arch}_CC_PATH" "$tree/BaseTools/Conf/tools_def.template"; then
            printf '%s\n' "$tc"
        fi
    done
}

edk2_env() {
    local tree=$1 ws=$2
    export WORKSPACE=$ws
    export PACKAGES_PATH=$tree:$UPA_REPO/edk2-pkg
    export EDK_TOOLS_PATH=$tree/BaseTools
    export CONF_PATH=$ws/Conf
    export CLANG_BIN=$LLVM_BIN/ CLANG38_BIN=$LLVM_BIN/ CLANGDWARF_BIN=$LLVM_BIN/
    export GCC5_AARCH64_PREFIX=aarch64-linux-gnu- GCC_AARCH64_PREFIX=aarch64-linux-gnu-
    export GCCNOLTO_AARCH64_PREFIX=aarch64-linux-gnu-
    export GCC5_RISCV64_PREFIX=riscv64-linux-gnu- GCC_RISCV64_PREFIX=riscv64-linux-gnu-
    : "${PYTHON_COMMAND:=python3}"
    export PYTHON_COMMAND
    mkdir -p "$CONF_PATH"
    # AArch64 LTO links take liblto-aarch64.a from under $(WORKSPACE): current trees ship it in
    # BaseTools/Bin/GccLto; Debian's 2022.11 tree lacks it (ArmPkg/Library/GccLto), so it is
    # assembled from the source beside it.
    if [ -d "$tree/BaseTools/Bin/GccLto" ] && [ ! -e "$ws/BaseTools/Bin/GccLto" ]; then
        mkdir -p "$ws/BaseTools/Bin"
        ln -s "$tree/BaseTools/Bin/GccLto" "$ws/BaseTools/Bin/GccLto"
    fi
    local lto=$ws/ArmPkg/Library/GccLto/liblto-aarch64.a
    if [ -r "$tree/ArmPkg/Library/GccLto/liblto-aarch64.s" ] && [ ! -e "$lto" ]; then
        mkdir -p "$(dirname "$lto")"
        aarch64-linux-gnu-gcc -c -fpic "$tree/ArmPkg/Library/GccLto/liblto-aarch64.s" -o "$lto" || return 1
    fi
    # MdePkg.dec names this submodule directory; a tree without submodules lacks it.
    mkdir -p "$tree/MdePkg/Library/MipiSysTLib/mipisyst/library/include"
    # edksetup.sh copies the Conf templates only where they are missing: a fresh Conf/ per
    # workspace keeps its tools_def.txt in step with the tree.
    local here=$PWD rc=0 restore
    restore=$(set +o)   # edksetup.sh and BuildEnv fail under set -eu: restore the caller's
    set +eu
    cd "$tree" || return 1
    # shellcheck disable=SC1091
    . ./edksetup.sh BaseTools > "$ws/edksetup.log" 2>&1 || rc=$?
    cd "$here" || return 1
    eval "$restore"
    if [ "$rc" -ne 0 ]; then
        cat "$ws/edksetup.log" >&2
        return "$rc"
    fi
}
