#!/usr/bin/env bash
# Benchmarks of uefi-pool-alloc (issue 4): speed, firmware memory and code size, measured
# inside OVMF against the raw AllocatePool floor and a naive `Size + Align` wrapper, plus host
# instruction counts under callgrind. Writes docs/benchmarks.md, docs/alloc-overhead.svg and
# docs/benchmarks-summary.txt.
#
#   scripts/bench.sh            build, boot, measure on the host, write the docs (~1.5 min)
#   scripts/bench.sh --report   only regenerate the docs from the logs of the last run
#
# What runs:
#   1. The C static library for x86_64-unknown-uefi and aarch64-unknown-uefi (release).
#   2. bench/uefi/bench_app.c (+ tests/uefi/c/report.c, util.c) linked against it: three x64
#      images that differ only in the order in which the schemes run (BENCH_ORDER=0,1,2), an
#      AArch64 image, an IA32 image, and bench/uefi/size_min.c (code
#      size of the smallest user); and
#      bench/uefi/images.c, which loads 8 copies of bench/uefi/images_worker.c (a driver with its
#      own copy of the library) to measure one allocator per boot against private states.
#   3. Three OVMF boots under `-icount shift=8,align=off,sleep=off` (deterministic instruction
#      counts: every ratio comes from these), one OVMF IA32 boot, one AAVMF boot and one U-Boot boot (lib.sh's
#      uboot firmware; skipped when its u-boot.bin is missing) of the AArch64 image under
#      -icount, run BENCH_JOBS at a time, then one plain-TCG OVMF boot alone (wall-clock context)
#      and the images boot (plain TCG: it measures pages and bytes only).
#   4. bench/host (a Rust binary on tests/sim with trivial AllocatePool/FreePool stubs) under
#      `valgrind --tool=callgrind`, one process per scenario.
#   5. bench/report.py: medians and spread, tables, the SVG, the summary.
#
# Outputs under build/bench/: *.efi, *.map (lld-link maps), icount-{0,1,2}.log,
# aa64-icount-0.log, ia32-icount-0.log, uboot-aa64.log (AArch64 image in U-Boot), tcg.log, images.log, host.txt (callgrind
# totals), host-self.txt (per-function costs), times.txt (wall times).
# Environment: BENCH_JOBS (parallel -icount boots; default: CPUs, at most 3), BENCH_TIMEOUT
# (seconds per boot, default 300), BENCH_FULL=1 (W6 with all 1 000 repetitions instead of 20:
# ~5 min more per boot; each repetition is identical under -icount, see docs/benchmarks.md),
# BENCH_AA64=0 (skip the AAVMF boot), BENCH_IA32=0 (skip the OVMF IA32 boot), BENCH_UBOOT=0
# (skip the U-Boot boot), BENCH_HOST_N (host iterations, default 100000), CLANG, LLD_LINK, plus lib.sh's QEMU_* / OVMF_* / AAVMF_* /
# UBOOT_AA64 overrides.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh

: "${CLANG:=clang-19}"
: "${LLD_LINK:=lld-link-19}"
: "${BENCH_TIMEOUT:=300}"
: "${BENCH_HOST_N:=100000}"
if [ -z "${BENCH_JOBS:-}" ]; then
    BENCH_JOBS=$(nproc 2>/dev/null || echo 1)
    [ "$BENCH_JOBS" -gt 3 ] && BENCH_JOBS=3
fi

out=build/bench
icount_args=(-icount "shift=8,align=off,sleep=off")
start_ns=$(date +%s%N)

elapsed_s() { echo $(( ($(date +%s%N) - start_ns) / 1000000000 )); }
say() { upa_log "bench: $*"; }

# Compiles the benchmark app for ARCH (x64|aa64) with extra -D flags into OUT.efi/OUT.map.
build_app() {
    local arch=$1 name=$2 rust_target
    shift 2
    rust_target=$(uefi_rust_target "$arch")
    uefi_c_app "$arch" "$out/$name.efi" "target/$rust_target/release/libuefi_pool_alloc.a" "$@" -- \
        bench/uefi/bench_app.c tests/uefi/c/report.c tests/uefi/c/util.c
}

# Boots IMAGE for ARCH, logging to LOG; extra QEMU arguments follow. Records the wall time.
# In the firmware selected last (upa_use_firmware): run it in a subshell to boot another.
boot() {
    local arch=$1 efi=$2 log=$3
    shift 3
    local t0 rc=0
    t0=$(date +%s%N)
    boot_efi "$arch" "$efi" "$log" "$BENCH_TIMEOUT" "$@" || rc=$?
    printf '%s %d %d\n' "$(basename "$log" .log)" "$(( ($(date +%s%N) - t0) / 1000000 ))" "$rc" \
        >> "$out/times.txt"
    if [ "$rc" -ne 0 ]; then
        say "boot of $efi failed ($rc); serial log: $log"
        return 1
    fi
    if ! grep -aq '^bench done errors=0' <(tr -d '\r' < "$log"); then
        say "$efi reported errors (serial log: $log):"
        tr -d '\r' < "$log" | grep -a '^bench \(error\|done\)' >&2 || true
        return 1
    fi
}

run_firmware() {
    say "building the library (x86_64-unknown-uefi, aarch64-unknown-uefi; release)"
    cargo build --quiet --release -p uefi-pool-alloc-capi --target x86_64-unknown-uefi
    cargo build --quiet --release -p uefi-pool-alloc-capi --target aarch64-unknown-uefi

    rm -rf "$out"
    mkdir -p "$out"
    : > "$out/times.txt"
    local -a defs=()
    [ "${BENCH_FULL:-0}" = 1 ] && defs+=(-DW6_REPS=1000) || defs+=(-DW6_REPS=20)
    say "compiling and linking the benchmark app (x64 x3 scheme orders, aa64 for size)"
    local order
    for order in 0 1 2; do
        build_app x64 "bench-x64-$order" "${defs[@]}" -DBENCH_ORDER="$order"
    done
    build_app aa64 bench-aa64 "${defs[@]}"
    # IA32 as the others: the rustc archive, whose memcpy serves the naive and raw schemes'
    # copies (the release builds it, nightly -Zbuild-std).
    if [ "${BENCH_IA32:-1}" = 1 ]; then
        release_artifact i686-unknown-uefi > /dev/null
        uefi_c_app ia32 "$out/bench-ia32.efi" target/release-pkg/i686-unknown-uefi/release/libuefi_pool_alloc.a \
            "${defs[@]}" -- bench/uefi/bench_app.c tests/uefi/c/report.c tests/uefi/c/util.c
    fi
    # The smallest user of the API, for the code-size table.
    uefi_c_app x64 "$out/size-min-x64.efi" target/x86_64-unknown-uefi/release/libuefi_pool_alloc.a -- \
        bench/uefi/size_min.c
    # One allocator per boot: 8 copies of a worker driver, each with its own library, loaded from
    # the loader's memory (the worker is embedded in it).
    UEFI_SUBSYSTEM=efi_boot_service_driver uefi_c_app x64 "$out/images-worker-x64.efi" \
        target/x86_64-unknown-uefi/release/libuefi_pool_alloc.a -- bench/uefi/images_worker.c
    uefi_c_app x64 "$out/images-x64.efi" target/x86_64-unknown-uefi/release/libuefi_pool_alloc.a \
        -DWORKER_EFI="\"$repo/$out/images-worker-x64.efi\"" -- \
        bench/uefi/images.c tests/uefi/c/report.c tests/uefi/c/util.c

    # ARCH IMAGE LOG [FIRMWARE]: without FIRMWARE, the one lib.sh selected (UPA_FIRMWARE).
    local -a jobs=("x64 bench-x64-0 icount-0" "x64 bench-x64-1 icount-1" "x64 bench-x64-2 icount-2")
    [ "${BENCH_AA64:-1}" = 1 ] && jobs+=("aa64 bench-aa64 aa64-icount-0")
    [ "${BENCH_IA32:-1}" = 1 ] && jobs+=("ia32 bench-ia32 ia32-icount-0")
    if [ "${BENCH_UBOOT:-1}" = 1 ]; then
        local uboot_bin
        uboot_bin=$(upa_use_firmware uboot && printf '%s' "$UPA_AA64_BIOS")
        if [ -r "$uboot_bin" ]; then
            jobs+=("aa64 bench-aa64 uboot-aa64 uboot")
        else
            say "no U-Boot image $uboot_bin (package u-boot-qemu: run scripts/setup.sh; or set UBOOT_AA64): skipping the U-Boot boot"
        fi
    fi
    say "booting ${#jobs[@]}x under -icount (${BENCH_JOBS} at a time), then x64 once under plain TCG"
    local -a pids=()
    local failed=0 pid job arch image log firmware
    for job in "${jobs[@]}"; do
        read -r arch image log firmware <<<"$job"
        # A subshell: the firmware chosen for this boot stays in it.
        (
            if [ -n "$firmware" ]; then upa_use_firmware "$firmware"; fi
            boot "$arch" "$out/$image.efi" "$out/$log.log" "${icount_args[@]}"
        ) &
        pids+=($!)
        if [ "${#pids[@]}" -ge "$BENCH_JOBS" ]; then
            wait "${pids[0]}" || failed=1
            pids=("${pids[@]:1}")
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    # Alone, so that its wall-clock figures are not disturbed by the other boots.
    boot x64 "$out/bench-x64-0.efi" "$out/tcg.log" || failed=1
    # Pages and bytes only, which do not depend on timing: plain TCG.
    boot x64 "$out/images-x64.efi" "$out/images.log" || failed=1
    [ "$failed" = 0 ] || { say "a boot failed"; exit 1; }
}

# Inclusive instruction count of FUNCTION in a callgrind output file.
inclusive_ir() {
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk -v f="$2" '{ gsub(",", "", $1) } $0 ~ ("[?]:" f " ") { print $1; exit }'
}

run_host() {
    : > "$out/host.txt"
    : > "$out/host-self.txt"
    if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
        say "valgrind missing (run scripts/setup.sh): no host figures"
        return 0
    fi
    say "host: building bench/host and counting instructions under callgrind"
    cargo build --quiet --release --manifest-path bench/host/Cargo.toml --target-dir target/bench-host
    local bin=target/bench-host/release/bench-host n=$BENCH_HOST_N scenario fn cg
    for scenario in floor empty aligned aligned32 aligned8 raw realloc global naive; do
        case $scenario in
            aligned*) fn=bench_aligned ;;
            *) fn=bench_$scenario ;;
        esac
        cg=$out/callgrind.$scenario.out
        valgrind --tool=callgrind --callgrind-out-file="$cg" "$bin" "$scenario" "$n" >/dev/null 2>&1
        printf '%s %s %s\n' "$scenario" "$n" "$(inclusive_ir "$cg" "$fn")" >> "$out/host.txt"
        # Where the instructions go, function by function (self cost).
        callgrind_annotate "$cg" 2>/dev/null |
            awk -v s="$scenario" '/^ *[0-9,]+ +\([ 0-9.]+%\) +[?][?][?]:/ { c = $1; gsub(",", "", c)
                 f = $0; sub(/.*[?][?][?]:/, "", f); sub(/ \[.*/, "", f); print s, c, f }' \
            >> "$out/host-self.txt"
    done
    # Host-only cost of the C exports: on x86_64 Linux they are ms_abi functions that call
    # SysV code, so each saves and restores xmm6-15; the UEFI targets have no such spills.
    local symbol saves
    for symbol in pool_aligned_alloc pool_aligned_free pool_aligned_realloc pool_raw_alloc pool_raw_free; do
        saves=$(objdump -d --no-show-raw-insn --disassemble="$symbol" "$bin" |
                grep -cE 'movaps +%xmm([6-9]|1[0-5]),') || true
        printf 'spill %s %s\n' "$symbol" "$(( 2 * saves ))" >> "$out/host.txt"
    done
}

# Writes the docs from build/bench/; the wall time of the run that filled it is in times.txt.
report() {
    say "writing docs/benchmarks.md, docs/alloc-overhead.svg, docs/benchmarks-summary.txt"
    mkdir -p docs
    python3 bench/report.py --dir "$out" --docs docs \
        --qemu "$("$QEMU_X64" --version | head -n 1)" --ovmf "$OVMF_CODE"
}

case ${1:-} in
    --report) report ;;
    "") run_firmware; run_host; printf 'total %s\n' "$(elapsed_s)" >> "$out/times.txt"; report ;;
    *) upa_log "usage: scripts/bench.sh [--report]"; exit 2 ;;
esac
say "done in $(elapsed_s) s"
cat docs/benchmarks-summary.txt
