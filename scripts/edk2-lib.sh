# shellcheck shell=bash
# Helpers of the EDK2 package scripts (edk2-refresh.sh, edk2-test.sh). Source it after lib.sh.
#
#   upa_source_hash
#       Print the SHA-256 of everything the prebuilt archives are built from: the library's and
#       the C library crate's sources, build.rs, cbindgen.toml, the header prologue,
#       scripts/release.sh, Cargo.toml's [profile.release] and the resolved versions of the
#       crates the C library links. Absolute paths and unrelated workspace members stay out.
#   edk2_basetools TREE
#       Build TREE's BaseTools once (make -C BaseTools, ~46 s on 2 cores); later calls only
#       check the marker. Serialised with flock.
#   edk2_env TREE WORKSPACE
#       Set up the environment of an EDK2 build in the current shell: WORKSPACE (build outputs,
#       Conf/), PACKAGES_PATH (TREE and edk2-pkg/), EDK_TOOLS_PATH, CLANG_BIN, CLANG38_BIN,
#       GCC5_AARCH64_PREFIX, then sources edksetup.sh (from inside this function, without
#       set -eu, as it requires).

# Used by the scripts that source this file.
# shellcheck disable=SC2034
UPA_REPO=${UPA_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
UPA_EDK2_PKG=$UPA_REPO/edk2-pkg/UefiPoolAllocPkg
UPA_EDK2_LIB=$UPA_EDK2_PKG/Library/UefiPoolAllocLib
UPA_EDK2_PREBUILT=$UPA_EDK2_LIB/Prebuilt
UPA_EDK2_STAMP=$UPA_EDK2_PREBUILT/UefiPoolAllocPrebuilt.h
UPA_EDK2_HEADER=$UPA_EDK2_PKG/Include/Library/UefiPoolAllocLib/uefi_pool_alloc.h
: "${LLVM_BIN:=/usr/lib/llvm-19/bin}"

# Prebuilt files: "rust-target release-file package-file".
# shellcheck disable=SC2034
UPA_EDK2_PREBUILTS=(
    "x86_64-unknown-none uefi_pool_alloc.o X64/UefiPoolAlloc.o"
    "aarch64-unknown-none uefi_pool_alloc.o AARCH64/UefiPoolAlloc.o"
    "x86_64-unknown-uefi uefi_pool_alloc.lib X64/UefiPoolAlloc.lib"
    "aarch64-unknown-uefi uefi_pool_alloc.lib AARCH64/UefiPoolAlloc.lib"
)

upa_source_hash() {
    (
        set -euo pipefail
        cd "$UPA_REPO"
        {
            # File names and contents, in a stable order.
            find src capi build.rs cbindgen.toml include/prologue.h scripts/release.sh \
                -type f ! -name '*~' 2>/dev/null | LC_ALL=C sort | while read -r f; do
                printf '== %s\n' "$f"
                cat "$f"
            done
            printf '== Cargo.toml [profile.release]\n'
            sed -n '/^\[profile\.release\]/,/^\[/p' Cargo.toml
            printf '== resolved dependencies\n'
            # Offline first (instant); online on a machine whose cargo cache is still empty.
            { cargo tree --offline -q -p uefi-pool-alloc-capi -e normal --prefix none \
                  --target all 2>/dev/null ||
              cargo tree -q -p uefi-pool-alloc-capi -e normal --prefix none --target all; } |
                sed 's/ (.*)$//' | LC_ALL=C sort -u
        } | sha256sum | cut -d' ' -f1
    )
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
        upa_log "edk2: building BaseTools in $tree/BaseTools (once; ~1 min)"
        local start=$SECONDS
        make -C "$tree/BaseTools" -j"$(nproc)" > "$tree/BaseTools/.upa-basetools.log" 2>&1 || {
            tail -n 30 "$tree/BaseTools/.upa-basetools.log" >&2
            upa_log "edk2: BaseTools build failed (log: $tree/BaseTools/.upa-basetools.log)"
            exit 1
        }
        date -u +%FT%TZ > "$marker"
        upa_log "edk2: BaseTools built in $((SECONDS - start)) s"
    )
}

edk2_env() {
    local tree=$1 ws=$2
    export WORKSPACE=$ws
    export PACKAGES_PATH=$tree:$UPA_REPO/edk2-pkg
    export EDK_TOOLS_PATH=$tree/BaseTools
    export CONF_PATH=$ws/Conf
    export CLANG_BIN=$LLVM_BIN/ CLANG38_BIN=$LLVM_BIN/
    export GCC5_AARCH64_PREFIX=aarch64-linux-gnu-
    : "${PYTHON_COMMAND:=python3}"
    export PYTHON_COMMAND
    mkdir -p "$CONF_PATH"
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
