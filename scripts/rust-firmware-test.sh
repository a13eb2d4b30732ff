#!/usr/bin/env bash
# Build the Rust UEFI test app (tests/uefi/rust: PoolAllocator as #[global_allocator], with
# C code from c/mixed.c linked into the same image) and boot it in real firmware under
# QEMU/TCG: OVMF for x64, AAVMF for aa64, OVMF IA32 for ia32 (or U-Boot with UPA_FIRMWARE=uboot).
# The app prints one line per check on the serial port and ends with "N passed, M failed"; this
# script fails unless M == 0.
#
#   scripts/rust-firmware-test.sh [x64|aa64|all|ia32]      (default: x64; all: x64 and aa64)
#
# Then it builds examples/uefi-app, a crate outside the workspace that depends on the library as a
# user of the published crate would and is written with the `uefi` crate, checks that its dependency tree has
# no cbindgen and that building it left the repository's files untouched, and boots it too.
#
# It also builds tests/uefi/rust's size-probe twice, with PoolAllocator and with a stub
# AllocatePool/FreePool allocator, and prints the .text the library adds to a Rust app.
#
# Outputs, per ARCH, under build/uefi/ARCH/: rust_uefi_test.efi, rust_uefi_test.log (the serial
# log; rust_uefi_test.FIRMWARE.log in firmware other than the installed one), size_probe_pool.efi,
# size_probe_stub.efi, uefi_app_example.efi and its log.
# Environment: RUST_FIRMWARE_TEST_TIMEOUT (seconds per boot, default 120), CLANG (clang-19) and
# LLVM_AR (llvm-ar-19) for the C part, LLVM_SIZE (llvm-size-19), plus lib.sh's UPA_FIRMWARE and
# QEMU_* / OVMF_* / AAVMF_* overrides.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh

: "${RUST_FIRMWARE_TEST_TIMEOUT:=120}"
: "${LLVM_SIZE:=llvm-size-19}"
export CLANG=${CLANG:-clang-19} LLVM_AR=${LLVM_AR:-llvm-ar-19}

crate=rust-uefi-test

# Size of one section of a PE image, in bytes.
section_size() {
    "$LLVM_SIZE" -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

# cargo_build TARGET ARGS...: cargo build for TARGET; no prebuilt core/alloc exists for
# i686-unknown-uefi, so nightly builds them there.
cargo_build() {
    local rust_target=$1
    shift
    if [ "$rust_target" = i686-unknown-uefi ]; then
        cargo +nightly build "-Zbuild-std=core,alloc,compiler_builtins" \
            -Zbuild-std-features=compiler-builtins-mem --target "$rust_target" "$@"
    else
        cargo build --target "$rust_target" "$@"
    fi
}

# .text of size-probe with the library and with the stub allocator.
code_size() {
    local arch=$1 rust_target=$2 out=$3 variant
    for variant in pool stub; do
        local -a features=()
        [ "$variant" = stub ] && features=(--features stub-allocator)
        cargo_build "$rust_target" --quiet --release -p "$crate" --bin size-probe "${features[@]}"
        cp "target/$rust_target/release/size-probe.efi" "$out/size_probe_$variant.efi"
    done
    local pool stub
    pool=$(section_size "$out/size_probe_pool.efi" .text)
    stub=$(section_size "$out/size_probe_stub.efi" .text)
    upa_log "rust-firmware-test[$arch]: size-probe .text: $pool bytes with PoolAllocator, $stub with" \
            "the stub allocator: the library adds $((pool - stub)) bytes of code" \
            "(.rdata $(section_size "$out/size_probe_pool.efi" .rdata) vs" \
            "$(section_size "$out/size_probe_stub.efi" .rdata), .data" \
            "$(section_size "$out/size_probe_pool.efi" .data) vs" \
            "$(section_size "$out/size_probe_stub.efi" .data))"
}

# examples/uefi-app: built as a dependent crate is (its own lock file and target directory),
# then booted.
example_app() {
    local arch=$1 rust_target=$2 out=$3 before tree
    local efi=$out/uefi_app_example.efi log=$out/uefi_app_example$UPA_LOG_TAG.log
    local -a options=(--quiet --locked --manifest-path examples/uefi-app/Cargo.toml)
    before=$(git status --porcelain --untracked-files=all)
    upa_log "rust-firmware-test[$arch]: building examples/uefi-app ($rust_target, release)"
    CARGO_TARGET_DIR=target/example cargo_build "$rust_target" "${options[@]}" --release || return 1
    tree=$(cargo tree "${options[@]}" -e all --target "$rust_target") || return 1
    if grep cbindgen <<<"$tree"; then
        upa_log "rust-firmware-test[$arch]: examples/uefi-app depends on cbindgen"
        return 1
    fi
    if [ "$(git status --porcelain --untracked-files=all)" != "$before" ]; then
        git status --porcelain --untracked-files=all >&2
        upa_log "rust-firmware-test[$arch]: building examples/uefi-app changed the repository's files"
        return 1
    fi
    cp "target/example/$rust_target/release/uefi-pool-alloc-example.efi" "$efi"
    boot_and_check uefi-app-example "$arch" "$efi" "$log" "$RUST_FIRMWARE_TEST_TIMEOUT"
}

run_arch() {
    local arch=$1 rust_target
    rust_target=$(uefi_rust_target "$arch") || return 2
    local out=build/uefi/$arch
    local efi=$out/rust_uefi_test.efi log=$out/rust_uefi_test$UPA_LOG_TAG.log
    mkdir -p "$out"

    upa_log "rust-firmware-test[$arch]: building $crate ($rust_target, release)"
    cargo_build "$rust_target" --quiet --release -p "$crate" --bin "$crate"
    cp "target/$rust_target/release/$crate.efi" "$efi"
    upa_log "rust-firmware-test[$arch]: image $(stat -c %s "$efi") bytes," \
            ".text $(section_size "$efi" .text)"
    code_size "$arch" "$rust_target" "$out"

    local status=0
    boot_and_check rust-firmware-test "$arch" "$efi" "$log" "$RUST_FIRMWARE_TEST_TIMEOUT" || status=1
    example_app "$arch" "$rust_target" "$out" || status=1
    return "$status"
}

for_arches run_arch "${1:-x64}"
