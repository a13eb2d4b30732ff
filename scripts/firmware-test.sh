#!/usr/bin/env bash
# Build the C firmware test app (tests/uefi/c) against the shipped C static library and boot
# it in real firmware under QEMU/TCG: OVMF for x64, AAVMF for aa64. The app prints one line per
# check on the serial port and ends with "N passed, M failed"; this script fails unless M == 0.
#
#   scripts/firmware-test.sh [x64|aa64|all]      (default: x64)
#
# Outputs, per ARCH, under build/uefi/ARCH/: test_app.efi, test_app.log (the serial log),
# test_app.map (lld-link's map, from which the library's size in the image is printed).
# Environment: FIRMWARE_TEST_TIMEOUT (seconds per boot, default 300), CLANG (clang-19),
# LLD_LINK (lld-link-19), plus lib.sh's QEMU_* / OVMF_* / AAVMF_* overrides.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh

: "${CLANG:=clang-19}"
: "${LLD_LINK:=lld-link-19}"
: "${FIRMWARE_TEST_TIMEOUT:=300}"

# Freestanding PE/COFF objects: the Windows target gives the UEFI calling convention and
# object format; no libc, no stack protector, no stack probes (__chkstk does not exist here).
cflags=(-ffreestanding -fshort-wchar -nostdlib -fno-stack-protector -mno-stack-arg-probe
        -std=c11 -O2 -Wall -Wextra -Werror -Iinclude)

# Sum of the input sections from the library's archive in an lld-link /lldmap: file, per output
# section: what the library adds to the image. Our own objects are the *.obj inputs.
library_size() {
    # Plain POSIX awk (Debian's default is mawk: no strtonum).
    awk 'function hex(s,    i, v) {
             v = 0
             for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(s, i, 1))) - 1
             return v
         }
         $4 ~ /:\(/ && $4 !~ /\.obj:\(/ {
             sect = $4; sub(/.*:\(/, "", sect); sub(/\).*/, "", sect); sub(/\$.*/, "", sect)
             size[sect] += hex($2); total += hex($2)
             if ($4 ~ /^compiler_builtins-/) builtins += hex($2)
         }
         END {
             line = ""
             for (s in size) line = line sprintf("%s%s %d", line == "" ? "" : ", ", s, size[s])
             printf "%d bytes (%s; compiler_builtins %d of them)\n", total, line, builtins
         }' "$1"
}

run_arch() {
    local arch=$1 rust_target clang_target machine
    local -a arch_cflags=()
    case $arch in
        x64)
            rust_target=x86_64-unknown-uefi clang_target=x86_64-unknown-windows machine=x64
            arch_cflags=(-mno-red-zone)
            ;;
        aa64)
            rust_target=aarch64-unknown-uefi clang_target=aarch64-unknown-windows machine=arm64
            ;;
        *)
            upa_log "firmware-test: ARCH must be x64, aa64 or all, not '$arch'"
            return 2
            ;;
    esac
    local out=build/uefi/$arch
    local lib
    local log=$out/test_app.log efi=$out/test_app.efi map=$out/test_app.map

    # The library as shipped (scripts/release.sh: symbol-clean archives).
    lib=$(release_artifact "$rust_target")

    upa_log "firmware-test[$arch]: compiling and linking $efi"
    mkdir -p "$out/obj"
    local -a objs=()
    local src obj
    for src in tests/uefi/c/*.c; do
        obj=$out/obj/$(basename "${src%.c}").obj
        "$CLANG" --target="$clang_target" "${cflags[@]}" "${arch_cflags[@]}" -c "$src" -o "$obj"
        objs+=("$obj")
    done
    "$LLD_LINK" /nologo /subsystem:efi_application /entry:efi_main /nodefaultlib \
        /machine:"$machine" /lldmap:"$map" /out:"$efi" "${objs[@]}" "$lib"
    upa_log "firmware-test[$arch]: image $(stat -c %s "$efi") bytes; the library adds $(library_size "$map")"

    upa_log "firmware-test[$arch]: booting (timeout ${FIRMWARE_TEST_TIMEOUT}s)"
    local start end rc=0
    start=$(date +%s%N)
    boot_efi "$arch" "$efi" "$log" "$FIRMWARE_TEST_TIMEOUT" || rc=$?
    end=$(date +%s%N)
    upa_log "firmware-test[$arch]: boot to shutdown took $(( (end - start) / 1000000 )) ms (QEMU exit status $rc)"

    # Print the app's lines and judge its last summary line.
    local report=0
    check_report "$log" || report=$?
    if [ "$rc" -ne 0 ] || [ "$report" -ne 0 ]; then
        upa_log "firmware-test[$arch]: FAILED (serial log: $log)"
        return 1
    fi
    upa_log "firmware-test[$arch]: passed"
}

arch=${1:-x64}
case $arch in
    all)
        status=0
        run_arch x64 || status=1
        run_arch aa64 || status=1
        exit "$status"
        ;;
    *) run_arch "$arch" ;;
esac
