#!/usr/bin/env bash
# Build the EDK2 package (edk2-pkg/UefiPoolAllocPkg) with real EDK2 for every supported
# toolchain, architecture and target, and boot each build's test application in OVMF (X64) or
# AAVMF (AARCH64). The application runs the checks of the clang-built firmware test
# (tests/uefi/c) plus the EDK2-only ones (library constructor; the sample driver loaded with
# LoadImage/StartImage from a second disk, used, unloaded) and prints "N passed, M failed".
#
#   scripts/edk2-test.sh [--refresh] [--clean]
#
#   --refresh  rebuild the prebuilts from the Rust sources first (scripts/edk2-refresh.sh);
#              without it, stale prebuilts fail the test (scripts/edk2-refresh.sh --check)
#   --clean    remove the EDK2 build outputs first (build/edk2/Build)
#
# Steps: the prerequisites; the prebuilts' freshness; edk2-pytool-library's parsers over every
# .dec/.inf/.dsc (scripts/edk2-parse.py; the library is pip-installed --user if missing); the
# Debian EDK2 2022.11 tree (edk2_src, cached) and its BaseTools (built once, cached in the
# tree); then the matrix:
#   X64      GCC5 CLANGPDB CLANGDWARF CLANG38    DEBUG RELEASE
#   AARCH64  GCC5 CLANG38                        DEBUG RELEASE
# Builds run one after another (AutoGen is single-threaded, make gets both cores); each boot
# runs in the background during the next build. One line per configuration: build and boot
# times, the app's result, the bytes the library adds to the app. Closing line:
# "N passed, M failed" over the configurations.
#
# Outputs: build/edk2/ (the EDK2 WORKSPACE: Conf/, Build/), build/edk2/logs/ (build and serial
# logs). Environment: EDK2_TEST_ONLY (an extended regex over "ARCH TOOLCHAIN TARGET", e.g.
# 'X64 GCC5' or 'RELEASE$'), EDK2_TEST_TIMEOUT (seconds per boot, default 300),
# UEFI_POOL_ALLOC_CACHE (cache of the tree), LLVM_BIN (/usr/lib/llvm-19/bin), plus lib.sh's
# QEMU_*/OVMF_*/AAVMF_* overrides.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh
# shellcheck source=edk2-lib.sh source-path=SCRIPTDIR
. scripts/edk2-lib.sh

: "${EDK2_TEST_TIMEOUT:=300}"
: "${EDK2_TEST_ONLY:=.}"
refresh=0 clean=0
for arg in "$@"; do
    case $arg in
        --refresh) refresh=1 ;;
        --clean) clean=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) upa_log "edk2-test: unknown argument '$arg' (see --help)"; exit 2 ;;
    esac
done

ws=$repo/build/edk2
logs=$ws/logs
t0=$SECONDS
say() { printf 'edk2-test: %s\n' "$*" >&2; }

# --- prerequisites -------------------------------------------------------------------------
missing=()
for tool in gcc make nasm iasl aarch64-linux-gnu-gcc python3 dpkg-source "$QEMU_X64" "$QEMU_AA64" \
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

# --- EDK2 tree, BaseTools, parsers ---------------------------------------------------------
tree=$(edk2_src)
edk2_basetools "$tree"
say "parsing the package with edk2-pytool-library"
python3 scripts/edk2-parse.py "$tree" edk2-pkg >&2

# --- workspace -----------------------------------------------------------------------------
[ "$clean" = 1 ] && rm -rf "$ws/Build"
mkdir -p "$ws" "$logs"
# Conf/ is copied from the tree's templates: start anew when the tree changes.
tree_id="$tree $(cat "$tree/.upa-complete")"
if [ "$(cat "$ws/Conf/.upa-tree" 2>/dev/null)" != "$tree_id" ]; then
    rm -rf "$ws/Conf"
    mkdir -p "$ws/Conf"
    printf '%s\n' "$tree_id" > "$ws/Conf/.upa-tree"
fi
# Debian's tree lacks the LTO helper archive the AARCH64 GCC5/CLANG38 links name through
# $(WORKSPACE): assemble it from the source beside where it belongs.
lto=$ws/ArmPkg/Library/GccLto/liblto-aarch64.a
if [ ! -e "$lto" ]; then
    mkdir -p "$(dirname "$lto")"
    aarch64-linux-gnu-gcc -c -fpic "$tree/ArmPkg/Library/GccLto/liblto-aarch64.s" -o "$lto"
fi
edk2_env "$tree" "$ws"
say "EDK2 $(cat "$tree/.upa-complete") from $tree; workspace $ws; setup took $((SECONDS - t0)) s"

# --- the matrix ----------------------------------------------------------------------------
configs=()
for target in DEBUG RELEASE; do
    for pair in "X64 GCC5" "X64 CLANGPDB" "X64 CLANGDWARF" "X64 CLANG38" \
                "AARCH64 GCC5" "AARCH64 CLANG38"; do
        config="$pair $target"
        [[ $config =~ $EDK2_TEST_ONLY ]] && configs+=("$config")
    done
done
if [ "${#configs[@]}" -eq 0 ]; then
    say "EDK2_TEST_ONLY='$EDK2_TEST_ONLY' selects nothing"
    exit 2
fi

# Boot one build in the background; the result goes to $base.result:
# "BOOT_SECONDS STATUS DETAIL", STATUS ok or FAIL.
boot_config() {
    local arch=$1 out=$2 base=$3 debug=$4
    local qarch drive_dev dir start rc=0 summary detail status=ok
    case $arch in
        X64) qarch=x64 drive_dev="ide-hd,drive=drv,bus=ide.1" ;;
        AARCH64) qarch=aa64 drive_dev="virtio-blk-pci,drive=drv" ;;
    esac
    # The sample driver on its own FAT disk (the ESP holds only the app; see lib.sh).
    dir=$(mktemp -d "${TMPDIR:-/tmp}/edk2-test-drv.XXXXXX")
    cp "$out/UefiPoolAllocSampleDriver.efi" "$dir/"
    start=$SECONDS
    boot_efi "$qarch" "$out/UefiPoolAllocTest.efi" "$base.serial.log" "$EDK2_TEST_TIMEOUT" \
        -drive "if=none,id=drv,format=raw,file=fat:rw:$dir" -device "$drive_dev" \
        2>"$base.boot.err" || rc=$?
    rm -rf "$dir"
    check_report "$base.serial.log" > "$base.report" 2>>"$base.boot.err" || status=FAIL
    summary=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$base.report" | tail -n 1) || true
    detail=${summary:-no summary line}
    if [ "$rc" -ne 0 ]; then
        status=FAIL detail="$detail; boot_efi status $rc"
    fi
    if grep -aq 'ASSERT' "$base.serial.log"; then
        status=FAIL detail="$detail; ASSERT in the log"
    fi
    # DEBUG builds print the sample driver's statistics from the library destructor
    # (PcdUefiPoolAllocStatistics): proof that the destructor ran at unload.
    if [ "$debug" = 1 ] && ! grep -aq 'UefiPoolAllocLib: 0 live blocks' "$base.serial.log"; then
        status=FAIL detail="$detail; no statistics line from the driver's library destructor"
    fi
    printf '%s %s %s\n' "$((SECONDS - start))" "$status" "$detail" > "$base.result"
}

passed=0 failed=0
pending=()   # "config|pid|base|build_seconds|size"
report_line() {   # arch toolchain target build_s boot_s status detail size
    printf '%-8s %-10s %-7s  build %3s s  boot %3s s  %-4s %s; library %s bytes in the app\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" >&2
}
finish_pending() {
    local entry config pid base build_s size result boot_s status detail
    for entry in "${pending[@]}"; do
        IFS='|' read -r config pid base build_s size <<<"$entry"
        wait "$pid" || true
        result=$(cat "$base.result" 2>/dev/null || echo "0 FAIL boot job died")
        boot_s=${result%% *} result=${result#* }
        status=${result%% *} detail=${result#* }
        if [ "$status" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
        # shellcheck disable=SC2086
        report_line $config "$build_s" "$boot_s" "$status" "$detail" "$size"
        if [ "$status" != ok ]; then
            say "  serial log: $base.serial.log"
            grep -a '^FAIL' "$base.report" 2>/dev/null | head -n 20 >&2 || true
            sed 's/^/  /' "$base.boot.err" >&2 || true
        fi
    done
    pending=()
}

say "building and booting ${#configs[@]} configurations"
for config in "${configs[@]}"; do
    read -r arch tc target <<<"$config"
    base=$logs/$arch-$tc-$target
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
        # shellcheck disable=SC2086
        report_line $config "$build_s" - FAIL "build failed (log: $base.build.log)" -
        grep -aE 'error|rror:' "$base.build.log" | grep -v '^"' | head -n 15 >&2 || true
        continue
    fi
    map=$out/UefiPoolAllocPkg/Test/UefiPoolAllocTest/UefiPoolAllocTest/DEBUG/UefiPoolAllocTest.map
    size=$(python3 scripts/edk2-mapsize.py "$map" 2>/dev/null) || size='?'
    debug=0
    [ "$target" = DEBUG ] && debug=1
    # One boot at a time: TCG uses one core, the next build the rest.
    finish_pending
    boot_config "$arch" "$out" "$base" "$debug" &
    pending+=("$config|$!|$base|$build_s|$size")
done
finish_pending

say "total $((SECONDS - t0)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
