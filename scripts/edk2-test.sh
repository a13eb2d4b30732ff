#!/usr/bin/env bash
# Build the EDK2 package (edk2-pkg/UefiPoolAllocPkg) with real EDK2 of two generations, for
# every toolchain each defines, four architectures (X64, AARCH64, IA32, RISCV64) and both
# targets, and boot each build's test application. The application runs the checks of the clang-built firmware test (tests/uefi/c)
# plus the EDK2-only ones (library constructor, invalid-call handler; the sample driver as
# UEFI_DRIVER, DXE_DRIVER and DXE_RUNTIME_DRIVER loaded with LoadImage/StartImage from a second
# disk, used, unloaded) and prints "N passed, M failed".
#
#   scripts/edk2-test.sh [--refresh] [--clean]
#
#   --refresh  rebuild the prebuilts from the Rust sources first (scripts/edk2-refresh.sh);
#              without it, stale prebuilts fail the test (scripts/edk2-refresh.sh --check)
#   --clean    remove the EDK2 build outputs first (build/edk2/*/Build); done anyway when the
#              prebuilts changed since the last build
#
# The generations, each with its own tree, WORKSPACE and firmware:
#   2022.11   Debian's EDK2 source package (edk2_src, cached): include guards, GCC5/CLANG38;
#             booted in the installed OVMF/AAVMF (Debian's 2022.11 build)
#   upstream  current EDK2 from EDK2_UPSTREAM (a tarball or checkout; default the tarball in
#             ../shared/edk2): #pragma once, GCC/GCCNOLTO; booted in current OVMF/AAVMF
#             (Debian sid's), and the configurations EDK2_TEST_STRICTNX selects also in their
#             strict-NX Secure Boot build. Without a tree this generation is skipped, saying why.
# IA32 builds of both generations boot in Debian's OVMF IA32 (2022.11: no other IA32 firmware
# here) and RISCV64 builds in U-Boot's RISC-V 64 S-mode build (no EDK2 firmware for it here).
# The configurations EDK2_TEST_UBOOT selects boot in U-Boot too (AArch64, x86). EDK2's X64 code
# uses SSE, which U-Boot's x86_64 port leaves off: an EDK2 X64 app cannot run there.
# Toolchains: those of GCC5 GCC GCCNOLTO CLANGDWARF CLANGPDB CLANG38 that the tree defines for
# the architecture (edk2_toolchains); DEBUG and RELEASE.
#
# Per generation: BaseTools (built once, cached in the tree), edk2-pytool-library's parsers over
# every .dec/.inf/.dsc (scripts/edk2-parse.py), then the builds, one after another (AutoGen is
# single-threaded, make gets both cores); each boot runs in the background during the next
# build. Besides the app's report, a boot checks the serial log: DEBUG builds print the three
# drivers' statistics from their library destructors and report invalid calls (one ASSERT: the
# DXE_DRIVER's deliberate double free); RELEASE builds report nothing. One line per boot: build
# and boot times, the app's result, the bytes the library adds to the app. Closing line:
# "N passed, M failed" over the boots.
#
# Outputs: build/edk2/GENERATION/ (the EDK2 WORKSPACE: Conf/, Build/), build/edk2/logs/ (build
# and serial logs). Environment: EDK2_UPSTREAM (above), EDK2_TEST_ONLY (an extended regex over
# "GENERATION ARCH TOOLCHAIN TARGET", e.g. 'upstream X64 GCC ' or 'RELEASE$'),
# EDK2_TEST_STRICTNX (the same kind of regex; default 'upstream (X64|AARCH64) GCC DEBUG$'),
# EDK2_TEST_UBOOT (likewise; default '(AARCH64 GCC5?|IA32 (GCC5?|CLANGPDB)) DEBUG$'),
# EDK2_TEST_TIMEOUT (seconds per boot, default 300), UEFI_POOL_ALLOC_CACHE (cache of the trees
# and firmware), LLVM_BIN (/usr/lib/llvm-19/bin), plus lib.sh's QEMU_* and UPA_CURRENT_FIRMWARE.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh
# shellcheck source=edk2-lib.sh source-path=SCRIPTDIR
. scripts/edk2-lib.sh

: "${EDK2_TEST_TIMEOUT:=300}"
: "${EDK2_TEST_ONLY:=.}"
: "${EDK2_TEST_STRICTNX:=upstream (X64|AARCH64) GCC DEBUG\$}"
: "${EDK2_TEST_UBOOT:=(AARCH64 GCC5?|IA32 (GCC5?|CLANGPDB)) DEBUG\$}"
refresh=0 clean=0
for arg in "$@"; do
    case $arg in
        --refresh) refresh=1 ;;
        --clean) clean=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) upa_log "edk2-test: unknown argument '$arg' (see --help)"; exit 2 ;;
    esac
done

logs=$repo/build/edk2/logs
t0=$SECONDS
say() { printf 'edk2-test: %s\n' "$*" >&2; }

# --- prerequisites -------------------------------------------------------------------------
missing=()
for tool in gcc make nasm iasl aarch64-linux-gnu-gcc riscv64-linux-gnu-gcc python3 dpkg-source \
            "$QEMU_X64" "$QEMU_AA64" "$QEMU_IA32" "$QEMU_RV64" \
            "$LLVM_BIN/clang" "$LLVM_BIN/ld.lld" "$LLVM_BIN/lld-link" "$LLVM_BIN/llvm-ar"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "missing: ${missing[*]} (run scripts/setup.sh)"
    exit 1
fi
if ! python3 -c 'import edk2toollib' 2>/dev/null; then
    say "installing edk2-pytool-library (pip --user)"
    python3 -m pip install --user --quiet --disable-pip-version-check edk2-pytool-library >&2
fi

# --- the prebuilts -------------------------------------------------------------------------
if [ "$refresh" = 1 ]; then
    scripts/edk2-refresh.sh
else
    scripts/edk2-refresh.sh --check
fi

# --- the boots ---------------------------------------------------------------------------------
# Boot one build in the background; the result goes to $base.result:
# "BOOT_SECONDS STATUS DETAIL", STATUS ok or FAIL. The caller chose the firmware.
boot_config() {
    local arch=$1 out=$2 base=$3 target=$4
    local qarch drive_dev dir start rc=0 summary detail status=ok asserts stats_lines
    case $arch in
        X64) qarch=x64 drive_dev="ide-hd,drive=drv,bus=ide.1" ;;
        AARCH64) qarch=aa64 drive_dev="virtio-blk-pci,drive=drv" ;;
        IA32) qarch=ia32 drive_dev="ide-hd,drive=drv,bus=ide.1" ;;
        RISCV64) qarch=rv64 drive_dev="virtio-blk-device,drive=drv" ;;
    esac
    # U-Boot's x86 board reads its disks through virtio.
    [ -n "${UPA_IA32_BIOS:-}" ] && [ "$arch" = IA32 ] && drive_dev="virtio-blk-pci,drive=drv"
    # The sample drivers on their own FAT disk (the ESP holds only the app; see lib.sh).
    dir=$(mktemp -d "${TMPDIR:-/tmp}/edk2-test-drv.XXXXXX")
    cp "$out"/UefiPoolAllocSample*.efi "$dir/"
    start=$SECONDS
    boot_efi "$qarch" "$out/UefiPoolAllocTest.efi" "$base.serial.log" "$EDK2_TEST_TIMEOUT" \
        -drive "if=none,id=drv,format=raw,file=fat:rw:$dir" -device "$drive_dev" \
        2>"$base.boot.err" || rc=$?
    rm -rf "$dir"
    check_report "$base.serial.log" > "$base.report" 2>>"$base.boot.err" || status=FAIL
    summary=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$base.report" | tail -n 1) || true
    detail=${summary:-no summary line}
    fail() { status=FAIL detail="$detail; $*"; }
    [ "$rc" -eq 0 ] || fail "boot_efi status $rc"
    asserts=$(grep -a '^ASSERT' "$base.serial.log" | tr -d '\r') || true
    stats_lines=$(grep -acE 'UefiPoolAllocLib: [0-9]+ live blocks .* allocator state at unload' "$base.serial.log") || true
    if [ "$target" = DEBUG ]; then
        # The library destructor of each of the three drivers reports its statistics
        # (PcdUefiPoolAllocStatistics): proof that it ran at unload.
        [ "$stats_lines" = 3 ] || fail "$stats_lines statistics lines from the drivers' library destructors, not 3"
        grep -aqE 'UefiPoolAllocLib: pool_aligned_free \((0x)?[0-9A-Fa-f]+\): invalid call refused' "$base.serial.log" ||
            fail "no DEBUG_ERROR line for the deliberate invalid calls"
        # One ASSERT, the DXE_DRIVER's (PcdUefiPoolAllocAssertOnInvalidCall TRUE).
        if [ "$(printf '%s' "$asserts" | grep -c .)" != 1 ] ||
           ! grep -q '^ASSERT \[UefiPoolAllocSampleDxe\] .*UefiPoolAllocLib\.c' <<<"$asserts"; then
            fail "ASSERT lines: expected exactly the DXE driver's, got: ${asserts:-none}"
        fi
    else
        [ -z "$asserts" ] || fail "ASSERT in a RELEASE log"
        ! grep -aq 'invalid call refused' "$base.serial.log" || fail "a RELEASE build reported an invalid call"
    fi
    printf '%s %s %s\n' "$((SECONDS - start))" "$status" "$detail" > "$base.result"
}

# The firmware a build of ARCH boots in: IA32 always in Debian's OVMF IA32 (2022.11, the only
# IA32 build at hand), RISCV64 in U-Boot (Debian has no EDK2 firmware for RISC-V).
booted_in() {
    case $1/$2 in
        */uboot|RISCV64/*) echo u-boot ;;
        IA32/*) echo ovmf-ia32 ;;
        *) echo "$2" ;;
    esac
}

report_line() {   # config firmware build_s boot_s status detail size
    local gen arch tc target
    read -r gen arch tc target <<<"$1"
    printf '%-9s %-8s %-10s %-7s %-16s build %3s s  boot %3s s  %-4s %s; library %s bytes in the app\n' \
        "$gen" "$arch" "$tc" "$target" "$2" "$3" "$4" "$5" "$6" "$7" >&2
}

# run_generation GENERATION TREE FIRMWARE: builds and boots its configurations; appends
# "PASSED FAILED" to $logs/counts. Runs in a subshell: edksetup.sh changes the environment.
run_generation() {
    local gen=$1 tree=$2 firmware=$3
    local ws=$repo/build/edk2/$gen passed=0 failed=0 start
    local -a configs=() pending=()   # pending: "config|firmware|pid|base|build_s|size"
    start=$SECONDS
    edk2_basetools "$tree"
    say "$gen: parsing the package with edk2-pytool-library"
    python3 scripts/edk2-parse.py "$tree" edk2-pkg >&2
    # A prebuilt is no make dependency of the modules that link it (the SLINK input), and after a
    # refresh the CLANGDWARF sample drivers failed until they were rebuilt: build anew whenever
    # the prebuilts differ from those of the last build (a build of this package takes seconds).
    local prebuilt=edk2-pkg/UefiPoolAllocPkg/Library/UefiPoolAllocLib/Prebuilt/UefiPoolAllocPrebuilt.h
    if [ "$clean" = 1 ] || ! cmp -s "$prebuilt" "$ws/Build/.upa-prebuilt"; then
        rm -rf "$ws/Build"
    fi
    mkdir -p "$ws/Build"
    cp "$prebuilt" "$ws/Build/.upa-prebuilt"
    # Conf/ is copied from the tree's templates: start anew when the tree changes.
    local tree_id
    tree_id="$tree $(cat "$tree/.upa-complete" 2>/dev/null || git -C "$tree" rev-parse HEAD 2>/dev/null)"
    if [ "$(cat "$ws/Conf/.upa-tree" 2>/dev/null)" != "$tree_id" ]; then
        rm -rf "$ws/Conf"
        mkdir -p "$ws/Conf"
        printf '%s\n' "$tree_id" > "$ws/Conf/.upa-tree"
    fi
    edk2_env "$tree" "$ws"
    upa_use_firmware "$firmware"
    local booted_in=$UPA_FIRMWARE_LABEL
    say "$gen: EDK2 tree $tree; workspace $ws; boots in $booted_in; setup took $((SECONDS - start)) s"

    local target arch tc config
    for target in DEBUG RELEASE; do
        for arch in X64 AARCH64 IA32 RISCV64; do
            for tc in $(edk2_toolchains "$tree" "$arch"); do
                config="$gen $arch $tc $target"
                [[ $config =~ $EDK2_TEST_ONLY ]] && configs+=("$config")
            done
        done
    done
    [ "${#configs[@]}" -gt 0 ] || { say "$gen: EDK2_TEST_ONLY='$EDK2_TEST_ONLY' selects nothing"; echo "0 0" >> "$logs/counts"; return 0; }

    finish_pending() {
        local entry config fw pid base build_s size result boot_s status detail
        for entry in "${pending[@]}"; do
            IFS='|' read -r config fw pid base build_s size <<<"$entry"
            wait "$pid" || true
            result=$(cat "$base.result" 2>/dev/null || echo "0 FAIL boot job died")
            boot_s=${result%% *} result=${result#* }
            status=${result%% *} detail=${result#* }
            if [ "$status" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
            report_line "$config" "$fw" "$build_s" "$boot_s" "$status" "$detail" "$size"
            if [ "$status" != ok ]; then
                say "  serial log: $base.serial.log"
                grep -a '^FAIL' "$base.report" 2>/dev/null | head -n 20 >&2 || true
                sed 's/^/  /' "$base.boot.err" >&2 || true
            fi
        done
        pending=()
    }

    say "$gen: building and booting ${#configs[@]} configurations"
    local base build_s rc out map size fw
    for config in "${configs[@]}"; do
        read -r _ arch tc target <<<"$config"
        base=$logs/$gen-$arch-$tc-$target
        rm -f "$base".*
        start=$SECONDS
        rc=0
        build -p UefiPoolAllocPkg/UefiPoolAllocPkg.dsc -a "$arch" -t "$tc" -b "$target" \
            -n "$(nproc)" > "$base.build.log" 2>&1 || rc=$?
        build_s=$((SECONDS - start))
        out=$ws/Build/UefiPoolAllocPkg/${target}_$tc/$arch
        if [ "$rc" -ne 0 ] || [ ! -e "$out/UefiPoolAllocTest.efi" ]; then
            finish_pending
            failed=$((failed + 1))
            report_line "$config" - "$build_s" - FAIL "build failed (log: $base.build.log)" -
            grep -aE 'error|rror:' "$base.build.log" | grep -v '^"' | head -n 15 >&2 || true
            continue
        fi
        map=$out/UefiPoolAllocPkg/Test/UefiPoolAllocTest/UefiPoolAllocTest/DEBUG/UefiPoolAllocTest.map
        size=$(python3 scripts/edk2-mapsize.py "$map" 2>/dev/null) || size='?'
        # One boot at a time: TCG uses one core, the next build the rest.
        local boot_base
        for fw in "$firmware" strictnx uboot; do
            boot_base=$base
            case $fw in
                strictnx)
                    if [ "$firmware" != current ] || ! [[ $config =~ $EDK2_TEST_STRICTNX ]]; then
                        continue
                    fi
                    fw=current-strictnx boot_base=$base-strictnx
                    ;;
                uboot)
                    [[ $config =~ $EDK2_TEST_UBOOT ]] || continue
                    boot_base=$base-uboot
                    ;;
            esac
            finish_pending
            upa_use_firmware "$fw"
            boot_config "$arch" "$out" "$boot_base" "$target" &
            pending+=("$config|$(booted_in "$arch" "$fw")|$!|$boot_base|$build_s|$size")
        done
    done
    finish_pending
    say "$gen: $passed passed, $failed failed in $((SECONDS - t0)) s"
    echo "$passed $failed" >> "$logs/counts"
}

mkdir -p "$logs"
: > "$logs/counts"
status=0
( run_generation 2022.11 "$(edk2_src)" installed ) || status=1
upstream_rc=0
upstream=$(edk2_upstream) || upstream_rc=$?
if [ "$upstream_rc" = 3 ]; then
    say "upstream: SKIPPED (no tree: see above); only EDK2 2022.11 was tested"
elif [ "$upstream_rc" != 0 ]; then
    say "upstream: FAILED to prepare the tree"
    status=1
else
    ( run_generation upstream "$upstream" current ) || status=1
fi

passed=0 failed=0
while read -r p f; do
    passed=$((passed + p)) failed=$((failed + f))
done < "$logs/counts"
say "total $((SECONDS - t0)) s"
echo "$passed passed, $failed failed"
[ "$status" = 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
