# shellcheck shell=bash
# Helpers shared by the project's scripts. Source it: `. scripts/lib.sh`.
#
#   boot_efi ARCH EFI_FILE LOG [TIMEOUT_S] [EXTRA_QEMU_ARGS...]
#       Boot one UEFI application in OVMF (ARCH=x64), AAVMF (ARCH=aa64) or OVMF IA32 (ARCH=ia32:
#       always Debian's ovmf-ia32, its Secure Boot + SMM build, the only one it ships) under
#       QEMU/TCG, or in U-Boot (x64, aa64, ia32) when upa_use_firmware selected uboot. ARCH=rv64
#       always boots U-Boot's RISC-V 64 S-mode build on OpenSBI (Debian has no EDK2 for it).
#       Serial output goes to LOG. Returns 0 when QEMU exits by itself (the app is expected to
#       end with ResetSystem(EfiResetShutdown)) or, in U-Boot x86/x86_64, when it was stopped
#       after the app's "N passed, M failed" line; non-zero on timeout (default 120 s), CPU
#       exception (also one after which the firmware reset and QEMU exited) or QEMU error.
#   check_report LOG
#       Print what the app wrote (ANSI escapes and firmware lines removed) and succeed only if
#       the last "N passed, M failed" line has M == 0 and N > 0.
#   edk2_src
#       Print the path of the cached, patched Debian EDK2 2022.11 tree; fetch it the first time.
#   upa_use_firmware installed|current|current-strictnx|uboot
#       Select the firmware boot_efi boots (see below; UPA_FIRMWARE in the environment selects
#       it for every script, default installed).
#
# Overridable through the environment: QEMU_X64, QEMU_AA64, QEMU_IA32, QEMU_RV64 (binaries),
# UBOOT_RV64 (U-Boot for rv64, default /usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin), OVMF32_CODE,
# OVMF32_VARS (IA32 firmware), OVMF_CODE, OVMF_VARS,
# AAVMF_CODE, AAVMF_VARS (firmware images; they win over UPA_FIRMWARE), UPA_CURRENT_FIRMWARE
# (a directory holding current firmware as usr/share/{OVMF,AAVMF}: skips the download),
# UBOOT_AA64, UBOOT_X64, UBOOT_IA32 (U-Boot images for uboot, default Debian's in /usr/lib/u-boot),
# UEFI_POOL_ALLOC_CACHE (cache directory). The functions do not change the caller's shell
# options.

: "${QEMU_X64:=qemu-system-x86_64}"
: "${QEMU_AA64:=qemu-system-aarch64}"
: "${QEMU_IA32:=qemu-system-i386}"
: "${QEMU_RV64:=qemu-system-riscv64}"
: "${UBOOT_RV64:=/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin}"
: "${OVMF32_CODE:=/usr/share/OVMF/OVMF32_CODE_4M.secboot.fd}"
: "${OVMF32_VARS:=/usr/share/OVMF/OVMF32_VARS_4M.fd}"
UPA_CACHE=${UEFI_POOL_ALLOC_CACHE:-$HOME/.cache/uefi-pool-alloc}

# Lines of the serial log that mean the firmware took a CPU exception: after one EDK2 spins
# forever, so waiting for the timeout would only waste time; U-Boot ('"Synchronous Abort"
# handler, esr 0x...', likewise for its Error/Irq/Fiq vectors) resets, and QEMU (-no-reboot)
# exits as if the app had shut down; on RISC-V it prints "Unhandled exception". U-Boot x86
# dumps the registers and hangs with "### ERROR ### Please RESET the board ###"; U-Boot x86_64
# has no handlers: a triple fault, QEMU exits without a word (only a missing report line tells).
UPA_CRASH_RE='X64 Exception Type|Synchronous Exception|!!!! |Synchronous Abort|" handler, esr 0x|Unhandled exception|### ERROR ### Please RESET'

# The app's final line: in U-Boot x86/x86_64 boot_efi stops QEMU after it, as boot-time
# ResetSystem(EfiResetShutdown) hangs there.
UPA_REPORT_RE='^[0-9]+ passed, [0-9]+ failed'

upa_log() { printf '%s\n' "$*" >&2; }

boot_efi() {
    if [ "$#" -lt 3 ]; then
        upa_log "usage: boot_efi x64|aa64|ia32|rv64 EFI_FILE LOG [TIMEOUT_S] [EXTRA_QEMU_ARGS...]"
        return 2
    fi
    local arch=$1 efi=$2 log=$3 timeout_s=${4:-120}
    shift 3
    [ "$#" -gt 0 ] && shift
    local qemu bootname code='' vars='' bios='' kernel='' stop_re=''
    local -a qemu_machine
    # U-Boot x86/x86_64 (-bios ROM): the i440FX pc machine; its serial is the ISA COM1 that
    # -serial creates even with -nodefaults, where the test apps write too.
    local -a uboot_pc=(-machine pc -m 512M -device "virtio-blk-pci,drive=esp,bootindex=0")
    case $arch in
        x64)
            qemu=$QEMU_X64 bootname=BOOTX64.EFI
            if [ -n "${UPA_X64_BIOS:-}" ]; then
                bios=$UPA_X64_BIOS qemu_machine=("${uboot_pc[@]}") stop_re=$UPA_REPORT_RE
            else
                code=$OVMF_CODE vars=$OVMF_VARS
                qemu_machine=(-machine "$UPA_X64_MACHINE" -m 256M -device "ide-hd,drive=esp,bootindex=0"
                              "${UPA_X64_EXTRA[@]}")
            fi
            ;;
        aa64)
            qemu=$QEMU_AA64 bootname=BOOTAA64.EFI
            if [ -n "${UPA_AA64_BIOS:-}" ]; then
                # U-Boot: loaded with -bios, no flash; its distro boot finds the ESP's
                # EFI/BOOT/BOOTAA64.EFI by itself.
                bios=$UPA_AA64_BIOS
                qemu_machine=(-machine virt -cpu cortex-a57 -m 512M
                              -device "virtio-blk-pci,drive=esp,bootindex=0")
            else
                code=$AAVMF_CODE vars=$AAVMF_VARS
                qemu_machine=(-machine virt -cpu cortex-a57 -m 256M
                              -device "virtio-blk-pci,drive=esp,bootindex=0")
            fi
            ;;
        ia32)
            qemu=$QEMU_IA32 bootname=BOOTIA32.EFI
            if [ -n "${UPA_IA32_BIOS:-}" ]; then
                bios=$UPA_IA32_BIOS qemu_machine=("${uboot_pc[@]}") stop_re=$UPA_REPORT_RE
            else
                # The SMM build needs SMM and a secure flash; with no keys enrolled unsigned apps boot.
                code=$OVMF32_CODE vars=$OVMF32_VARS
                qemu_machine=(-machine "q35,smm=on" -m 256M -device "ide-hd,drive=esp,bootindex=0"
                              -global "driver=cfi.pflash01,property=secure,value=on")
            fi
            ;;
        rv64)
            # OpenSBI (QEMU's -bios default) starts U-Boot in S-mode; distro boot finds the ESP.
            qemu=$QEMU_RV64 bootname=BOOTRISCV64.EFI kernel=$UBOOT_RV64
            qemu_machine=(-machine virt -m 512M -device "virtio-blk-device,drive=esp")
            ;;
        *) upa_log "boot_efi: ARCH must be x64, aa64, ia32 or rv64, not '$arch'"; return 2 ;;
    esac
    local f
    if [ -n "$bios" ] && [ ! -r "$bios" ]; then
        upa_log "boot_efi: cannot read the U-Boot image $bios (package u-boot-qemu: run scripts/setup.sh; or set UBOOT_${arch^^})"
        return 2
    fi
    for f in "$efi" ${kernel:+"$kernel"} ${code:+"$code" "$vars"}; do
        [ -r "$f" ] || { upa_log "boot_efi: cannot read $f"; return 2; }
    done

    local tmp
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/boot_efi.XXXXXX") || return 2
    mkdir -p "$tmp/esp/EFI/BOOT"
    cp "$efi" "$tmp/esp/EFI/BOOT/$bootname"
    local -a fw_args boot_menu=()
    if [ -n "$bios" ]; then
        fw_args=(-bios "$bios")
    elif [ -n "$kernel" ]; then
        fw_args=(-bios default -kernel "$kernel")
    else
        # VARS is written by the firmware (boot entries): each run gets its own copy.
        cp "$vars" "$tmp/vars.fd"
        fw_args=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$code"
                  -drive "if=pflash,format=raw,unit=1,file=$tmp/vars.fd")
        # splash-time=0: AAVMF otherwise idles ~5 s before booting.
        boot_menu=(-boot "menu=on,splash-time=0")
    fi
    : > "$log"

    # -nodefaults: no NIC/VGA, so no PXE attempts and ConOut goes to the serial port only.
    timeout -k 5 "$timeout_s" "$qemu" "${qemu_machine[@]}" "${fw_args[@]}" \
        -drive "if=none,id=esp,format=raw,file=fat:rw:$tmp/esp" \
        -nodefaults -no-user-config -monitor none -no-reboot -net none -smp 1 \
        -display none -serial "file:$log" "${boot_menu[@]}" \
        "$@" </dev/null &
    local pid=$! crashed=0 stopped=0 rc=0
    # Poll the log every 0.1 s (it is a few KiB): reacts at once to a crash marker.
    while kill -0 "$pid" 2>/dev/null; do
        if grep -aqE "$UPA_CRASH_RE" "$log" 2>/dev/null; then
            crashed=1
            sleep 0.3   # let the register dump reach the log
            kill -TERM "$pid" 2>/dev/null || true   # timeout(1) passes it on to QEMU
            break
        fi
        if [ -n "$stop_re" ] && grep -aqE "$stop_re" "$log" 2>/dev/null; then
            # After ExitBootServices U-Boot's ResetSystem resets (port 0xCF9, whatever the
            # type) and QEMU exits by itself; a boot-time one hangs: stop it after a grace period.
            sleep 1
            if kill -0 "$pid" 2>/dev/null; then
                stopped=1
                kill -TERM "$pid" 2>/dev/null || true
            fi
            break
        fi
        sleep 0.1
    done
    wait "$pid" || rc=$?
    if [ "$stopped" = 1 ]; then
        upa_log "boot_efi: stopped QEMU after the app's report line (U-Boot x86 does not shut down)"
        rc=0
    fi
    rm -rf "$tmp"
    # U-Boot resets after an exception, and QEMU (-no-reboot) then exits with status 0, maybe
    # before the loop above saw the marker.
    if [ "$crashed" = 0 ] && grep -aqE "$UPA_CRASH_RE" "$log" 2>/dev/null; then
        crashed=1
    fi
    if [ "$crashed" = 1 ]; then
        upa_log "boot_efi: CPU exception in the firmware (see $log)"
        return 3
    fi
    case $rc in
        0) return 0 ;;
        124|137) upa_log "boot_efi: timeout after ${timeout_s}s (see $log)"; return 124 ;;
        *) upa_log "boot_efi: $qemu exited with status $rc (see $log)"; return "$rc" ;;
    esac
}

# The serial log is the firmware console: ANSI colour/cursor sequences from the terminal
# driver, CRs, and firmware lines (BdsDxe, AAVMF's DEBUG output; U-Boot's banner and distro
# boot). Print only what follows the firmware's last "BdsDxe: starting Boot..." line, or in a
# U-Boot log (one with its "U-Boot 2023.01..." banner) its last "Booting /efi\boot\..." line
# (printed by bootefi just before it starts the app), i.e. what the app printed, cleaned. In a
# U-Boot log, what follows the app's end is dropped too: "poweroff ..." / "resetting ..."
# (ResetSystem) or "## Application terminated|failed" (the app returned) and all after it.
upa_clean_log() {
    sed -e 's/\x1b\[[0-9;?=]*[A-Za-z]//g' -e 's/\x1b[()][A-Za-z0-9]//g' -e 's/\r//g' \
        -e 's/\x1b[=>c]//g' "$1" |
        awk '/^U-Boot [0-9]/ { uboot = 1 }
             /^BdsDxe: starting Boot/ || (uboot && /^Booting \//) { n = 0; delete a; ended = 0; next }
             uboot && /^((poweroff|resetting) \.\.\.$|## Application (terminated|failed))/ { ended = 1 }
             ended { next }
             { a[++n] = $0 }
             END { for (i = 1; i <= n; i++) print a[i] }' |
        grep -avE '^(BdsDxe:|SecCoreStartupWithStack|ProtectUefiImage|InstallProtocolInterface|Loading driver|Image Type:)' |
        sed -e '/./,$!d'
}

check_report() {
    if [ "$#" -ne 1 ]; then upa_log "usage: check_report LOG"; return 2; fi
    [ -r "$1" ] || { upa_log "check_report: cannot read $1"; return 2; }
    local out last passed failed
    out=$(upa_clean_log "$1")
    printf '%s\n' "$out"
    last=$(printf '%s\n' "$out" | grep -aE '^[0-9]+ passed, [0-9]+ failed' | tail -n 1) || true
    if [ -z "$last" ]; then
        upa_log "check_report: no 'N passed, M failed' line in $1"
        return 1
    fi
    passed=${last%% passed*}
    failed=${last#*passed, }
    failed=${failed%% failed*}
    if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
        upa_log "check_report: $last"
        return 1
    fi
}

# upa_private_apt WORK TYPE [SUITE]: sets the array UPA_APT to an apt-get command that uses
# only WORK (sources, lists, cache), so that the host's apt configuration and lists stay
# untouched. Its sources are the host's own Debian ones (deb822 .sources or one-line .list,
# whichever the host has) with TYPE (deb or deb-src); with SUITE, only the entries of the host
# release's main suite, moved to SUITE (e.g. sid). No host name is written down: the mirrors
# come from the host's sources at run time. Fails when the host has no such entry.
upa_private_apt() {
    local work=$1 type=$2 suite=${3:-} codename f
    codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    mkdir -p "$work/sources.list.d" "$work/state/lists/partial" "$work/cache/archives/partial"
    rm -f "$work/sources.list.d"/*
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # deb822 stanzas: keep those with Types deb, rewrite Types (and Suites).
        awk -v type="$type" -v suite="$suite" -v codename="$codename" '
            function flush(    i, n, s, keep) {
                if (fields != "" && enabled != "no" && types ~ /(^| )deb( |$)/) {
                    n = split(suites, s, " ")
                    keep = ""
                    for (i = 1; i <= n; i++) {
                        if (suite == "") keep = keep " " s[i]
                        else if (s[i] == codename) keep = " " suite
                    }
                    if (keep != "") printf "Types: %s\nSuites:%s\n%s\n", type, keep, fields
                }
                fields = types = suites = enabled = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            /^Types:/ { types = $0; sub(/^Types:[ \t]*/, "", types); next }
            /^Suites:/ { suites = $0; sub(/^Suites:[ \t]*/, "", suites); next }
            /^Enabled:/ { enabled = tolower($2); next }
            { fields = fields $0 "\n" }
            END { flush() }' "$f" >> "$work/sources.list.d/private.sources"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        awk -v type="$type" -v suite="$suite" -v codename="$codename" '
            $1 != "deb" { next }
            {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if (suite != "" && $(i + 1) != codename) next
                $1 = type
                if (suite != "") $(i + 1) = suite
                print
            }' "$f" >> "$work/sources.list.d/private.list"
    done
    find "$work/sources.list.d" -type f -empty -delete
    if [ -z "$(ls -A "$work/sources.list.d")" ]; then
        upa_log "no Debian apt source of this host fits (release '$codename'${suite:+, for suite $suite})"
        return 1
    fi
    cat > "$work/apt.conf" <<EOF
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$work/sources.list.d";
Dir::State "$work/state";
Dir::Cache "$work/cache";
Acquire::Languages "none";
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear DPkg::Pre-Invoke;
#clear DPkg::Post-Invoke;
EOF
    UPA_APT=(apt-get -q -c "$work/apt.conf"
             -o Dir::Etc::SourceList=/dev/null
             -o "Dir::Etc::SourceParts=$work/sources.list.d"
             -o "Dir::State=$work/state" -o "Dir::Cache=$work/cache")
    # As root, apt's download sandbox user (_apt) cannot enter a cache under /root.
    if [ "$(id -u)" = 0 ]; then UPA_APT+=(-o APT::Sandbox::User=root); fi
}

# upa_cache_fill NAME FILL [ARGS...]: prints $UPA_CACHE/NAME, filling it first unless complete:
# FILL WORK ARGS... runs once (under a lock, in a subshell with set -euo pipefail) with a scratch
# directory WORK and leaves the finished directory, holding a .upa-complete file, in WORK/result,
# which is then renamed into place: a cache entry either does not exist or is complete.
upa_cache_fill() {
    local name=$1 fill=$2 dest=$UPA_CACHE/$1
    shift 2
    if [ ! -e "$dest/.upa-complete" ]; then
        mkdir -p "$(dirname "$dest")" || return 1
        (
            set -euo pipefail
            # One fill at a time; the loser of the race finds the entry done.
            exec 9>"$dest.lock"
            flock 9
            [ -e "$dest/.upa-complete" ] && exit 0
            # Leftovers of an interrupted run (we hold the lock, so nobody else uses them).
            rm -rf "$dest".tmp.* "$dest"
            work=$(mktemp -d "$dest.tmp.XXXXXX")
            trap 'rm -rf "$work"' EXIT
            "$fill" "$work" "$@"
            mv "$work/result" "$dest"
        ) || return 1
    fi
    printf '%s\n' "$dest"
}

# Debian's edk2 source package (the tree Debian's OVMF/AAVMF are built from), patched by
# dpkg-source, fetched once through a private apt (upa_private_apt).
edk2_src() {
    upa_cache_fill edk2-src edk2_src_fill
}

edk2_src_fill() {
    local work=$1 dsc version
    command -v dpkg-source >/dev/null ||
        { upa_log "edk2_src: dpkg-source missing (package dpkg-dev; run scripts/setup.sh)"; return 1; }
    # Same mirrors, suites and keys as the host, source indexes only.
    upa_private_apt "$work/apt" deb-src
    mkdir -p "$work/dl"
    upa_log "edk2_src: fetching Debian's edk2 source package into the cache"
    "${UPA_APT[@]}" update >&2
    (cd "$work/dl" && "${UPA_APT[@]}" source --download-only "${UPA_EDK2_SRCPKG:-edk2}") >&2
    dsc=$(find "$work/dl" -maxdepth 1 -name 'edk2_*.dsc' | head -n 1)
    [ -n "$dsc" ] || { upa_log "edk2_src: no .dsc downloaded"; return 1; }
    # dpkg-source applies Debian's patches (the bare orig tarball lacks what BaseTools needs).
    # Its "cannot verify inline signature" warning is expected without debian-keyring: apt
    # already checked every file against the signed Release of the host's sources.
    dpkg-source -x "$dsc" "$work/result" >&2
    version=$(basename "$dsc" .dsc); version=${version#edk2_}
    case $version in
        2022.11*) ;;
        *) upa_log "edk2_src: warning: got edk2 $version, not 2022.11" ;;
    esac
    printf '%s\n' "$version" > "$work/result/.upa-complete"
}

# upa_current_firmware: prints the directory of current firmware images (usr/share/OVMF and
# usr/share/AAVMF below it): UPA_CURRENT_FIRMWARE if set, else Debian sid's ovmf-generic and
# qemu-efi-aarch64 packages, fetched once through a private apt (upa_private_apt) and unpacked
# with dpkg-deb into the cache; nothing is installed. Only the images upa_use_firmware names are
# kept (the AArch64 ones are 64 MiB each).
upa_current_firmware() {
    if [ -n "${UPA_CURRENT_FIRMWARE:-}" ]; then
        printf '%s\n' "$UPA_CURRENT_FIRMWARE"
    else
        upa_cache_fill firmware-sid upa_current_firmware_fill
    fi
}

upa_current_firmware_fill() {
    local work=$1 deb keep
    upa_private_apt "$work/apt" deb sid
    mkdir -p "$work/dl" "$work/result"
    upa_log "current firmware: fetching Debian sid's ovmf-generic and qemu-efi-aarch64 into the cache"
    "${UPA_APT[@]}" update >&2
    (cd "$work/dl" && "${UPA_APT[@]}" download ovmf-generic qemu-efi-aarch64) >&2
    for deb in "$work"/dl/*.deb; do
        dpkg-deb -x "$deb" "$work/result"
        printf '%s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" >> "$work/versions"
    done
    keep='OVMF_CODE_4M.fd|OVMF_CODE_4M.secboot.strictnx.fd|OVMF_VARS_4M.fd|AAVMF_CODE.no-secboot.fd|AAVMF_CODE.secboot.strictnx.fd|AAVMF_VARS.fd'
    find "$work/result" \( -type f -o -type l \) -name '*.fd' | grep -vE "/($keep)\$" | xargs -r rm -f
    mv "$work/versions" "$work/result/.upa-complete"
}

# upa_use_firmware NAME: the firmware boot_efi boots from now on.
#   installed         the host's Debian packages ovmf and qemu-efi-aarch64 (bookworm: 2022.11)
#   current           current OVMF/AAVMF (upa_current_firmware: Debian sid's, 2026.08 when written)
#   current-strictnx  their Secure Boot builds with strict NX memory protection; the key store is
#                     empty, so unsigned apps boot; x64 needs SMM and a secure flash (QEMU
#                     options), AArch64 nothing more (a secure flash there faults the firmware)
#   uboot             U-Boot's UEFI (Debian package u-boot-qemu, bookworm: 2023.01): UBOOT_AA64,
#                     UBOOT_X64, UBOOT_IA32 (default /usr/lib/u-boot/{qemu_arm64/u-boot.bin,
#                     qemu-x86_64/u-boot.rom,qemu-x86/u-boot.rom}) booted with -bios and 512 MiB,
#                     no flash (x86: the pc machine); the image variables are left empty
# Sets OVMF_CODE, OVMF_VARS, AAVMF_CODE, AAVMF_VARS, UPA_AA64_BIOS, UPA_X64_BIOS, UPA_IA32_BIOS
# (the -bios images; empty unless uboot), UPA_X64_MACHINE, UPA_X64_EXTRA, UPA_FIRMWARE_LABEL
# (name and package version, for logs) and UPA_LOG_TAG (a suffix for serial log names: empty for
# installed, .NAME otherwise).
# shellcheck disable=SC2034 # used by the scripts that source this file
upa_use_firmware() {
    local dir version=
    UPA_X64_MACHINE=q35 UPA_X64_EXTRA=() UPA_AA64_BIOS='' UPA_X64_BIOS='' UPA_IA32_BIOS=''
    case $1 in
        installed)
            OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
            AAVMF_CODE=/usr/share/AAVMF/AAVMF_CODE.fd AAVMF_VARS=/usr/share/AAVMF/AAVMF_VARS.fd
            version=$(dpkg-query -W -f='${Version}' ovmf 2>/dev/null) || true
            ;;
        current|current-strictnx)
            dir=$(upa_current_firmware) || return 1
            OVMF_VARS=$dir/usr/share/OVMF/OVMF_VARS_4M.fd AAVMF_VARS=$dir/usr/share/AAVMF/AAVMF_VARS.fd
            if [ "$1" = current ]; then
                OVMF_CODE=$dir/usr/share/OVMF/OVMF_CODE_4M.fd
                AAVMF_CODE=$dir/usr/share/AAVMF/AAVMF_CODE.no-secboot.fd
            else
                OVMF_CODE=$dir/usr/share/OVMF/OVMF_CODE_4M.secboot.strictnx.fd
                AAVMF_CODE=$dir/usr/share/AAVMF/AAVMF_CODE.secboot.strictnx.fd
                UPA_X64_MACHINE=q35,smm=on
                UPA_X64_EXTRA=(-global "driver=cfi.pflash01,property=secure,value=on")
            fi
            version=$(awk '$1 == "ovmf-generic" { print $2 }' "$dir/.upa-complete" 2>/dev/null) || true
            ;;
        uboot)
            OVMF_CODE='' OVMF_VARS='' AAVMF_CODE='' AAVMF_VARS=''
            UPA_AA64_BIOS=${UBOOT_AA64:-/usr/lib/u-boot/qemu_arm64/u-boot.bin}
            UPA_X64_BIOS=${UBOOT_X64:-/usr/lib/u-boot/qemu-x86_64/u-boot.rom}
            UPA_IA32_BIOS=${UBOOT_IA32:-/usr/lib/u-boot/qemu-x86/u-boot.rom}
            if [ -n "${UBOOT_AA64:-}${UBOOT_X64:-}${UBOOT_IA32:-}" ]; then
                version=$(printf '%s ' ${UBOOT_AA64:+"$UBOOT_AA64"} ${UBOOT_X64:+"$UBOOT_X64"} ${UBOOT_IA32:+"$UBOOT_IA32"})
                version=${version% }
            else
                version=$(dpkg-query -W -f='${Version}' u-boot-qemu 2>/dev/null) || true
            fi
            ;;
        *) upa_log "upa_use_firmware: installed, current, current-strictnx or uboot, not '$1'"; return 2 ;;
    esac
    UPA_FIRMWARE_LABEL="$1 ${version:-(version unknown)}"
    UPA_LOG_TAG=.$1
    [ "$1" = installed ] && UPA_LOG_TAG=
    return 0
}

# upa_source_hash: prints the SHA-256 of exactly what shapes the release artifacts (cargo xtask
# source-hash: sources, API, the release tooling's code, [profile.release], resolved crates).
# The EDK2 stamp and release_artifact both judge staleness by it.
upa_source_hash() {
    (cd "$(dirname "${BASH_SOURCE[0]}")/.." && cargo xtask source-hash)
}

# release_artifact RUST_TARGET: prints the path of the shipped library for RUST_TARGET under
# build/release (the .lib for COFF targets, the .o for ELF ones), running scripts/release.sh
# first when it is missing or was built from other sources (upa_source_hash, which the release
# records in build/release/.source-hash). Tests link what is shipped.
release_artifact() {
    local target=$1 root dir artifact
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    dir=$root/build/release/lib/$target
    case $target in
        *-uefi) artifact=$dir/uefi_pool_alloc.lib ;;
        *) artifact=$dir/uefi_pool_alloc.o ;;
    esac
    if [ ! -r "$artifact" ] ||
       [ "$(cat "$root/build/release/.source-hash" 2>/dev/null)" != "$(upa_source_hash)" ]; then
        upa_log "release artifact for $target missing or stale: running scripts/release.sh"
        "$root/scripts/release.sh" >&2 || return 1
    fi
    printf '%s\n' "$artifact"
}

# uefi_c_app ARCH EFI LIB [CFLAGS...] -- SOURCE...: compiles the C SOURCEs for ARCH (x64|aa64|ia32)
# as a freestanding UEFI application (clang's Windows targets give PE/COFF and the UEFI calling
# convention) with the flags every C app here uses plus CFLAGS, and links them with LIB into EFI
# (lld-link's map beside it, EFI with .map for .efi). Objects go to a directory beside EFI.
# No libc, no stack protector, no stack probes (__chkstk does not exist in firmware).
# UEFI_SUBSYSTEM: lld-link's /subsystem (default efi_application; efi_boot_service_driver for a
# driver that stays resident).
uefi_c_app() {
    local arch=$1 efi=$2 lib=$3 clang_target lld_machine
    shift 3
    local -a flags=(-ffreestanding -fshort-wchar -nostdlib -fno-stack-protector -mno-stack-arg-probe
                    -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -Itests/uefi/c)
    case $arch in
        x64) clang_target=x86_64-unknown-windows lld_machine=x64 flags+=(-mno-red-zone) ;;
        aa64) clang_target=aarch64-unknown-windows lld_machine=arm64 ;;
        # -gnu: 64-bit division calls __udivdi3 (the app's runtime_ia32.c), not MSVC's __aulldiv.
        ia32) clang_target=i686-unknown-windows-gnu lld_machine=x86 ;;
        *) upa_log "uefi_c_app: ARCH must be x64, aa64 or ia32, not '$arch'"; return 2 ;;
    esac
    while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
        flags+=("$1")
        shift
    done
    shift
    local objdir=${efi%.efi}.objs src obj
    local -a objs=()
    mkdir -p "$objdir"
    for src in "$@"; do
        obj=$objdir/$(basename "${src%.c}").obj
        "${CLANG:-clang-19}" --target="$clang_target" "${flags[@]}" -c "$src" -o "$obj" || return 1
        objs+=("$obj")
    done
    "${LLD_LINK:-lld-link-19}" /nologo /subsystem:"${UEFI_SUBSYSTEM:-efi_application}" /entry:efi_main /nodefaultlib \
        /machine:"$lld_machine" /lldmap:"${efi%.efi}.map" /out:"$efi" "${objs[@]}" "$lib"
}

# boot_and_check NAME ARCH EFI LOG [TIMEOUT]: boots EFI, prints the app's report, and fails
# unless QEMU exited cleanly and the last "N passed, M failed" line has M = 0.
boot_and_check() {
    local name=$1 arch=$2 efi=$3 log=$4 timeout=${5:-300} start rc=0 report=0
    upa_log "${name}[$arch]: booting in $UPA_FIRMWARE_LABEL (timeout ${timeout}s)"
    start=$(date +%s%N)
    boot_efi "$arch" "$efi" "$log" "$timeout" || rc=$?
    upa_log "${name}[$arch]: boot to shutdown took $(( ($(date +%s%N) - start) / 1000000 )) ms (QEMU exit status $rc)"
    check_report "$log" || report=$?
    if [ "$rc" -ne 0 ] || [ "$report" -ne 0 ]; then
        upa_log "${name}[$arch]: FAILED (serial log: $log)"
        return 1
    fi
    upa_log "${name}[$arch]: passed"
}

# uefi_rust_target ARCH: the Rust target of a UEFI app for ARCH (x64|aa64).
uefi_rust_target() {
    case $1 in
        x64) echo x86_64-unknown-uefi ;;
        aa64) echo aarch64-unknown-uefi ;;
        ia32) echo i686-unknown-uefi ;;
        *) upa_log "ARCH must be x64, aa64, ia32 or all, not '$1'"; return 2 ;;
    esac
}

# for_arches FUNCTION ARCH: runs FUNCTION for ARCH, or for x64 then aa64 when ARCH is "all"
# (both run; fails if either failed).
for_arches() {
    local function=$1 arch=${2:-x64} status=0
    if [ "$arch" != all ]; then
        "$function" "$arch"
        return
    fi
    "$function" x64 || status=1
    "$function" aa64 || status=1
    return "$status"
}

# The firmware of every boot: UPA_FIRMWARE (default installed), unless the caller set the image
# variables themselves.
if [ -z "${OVMF_CODE:-}${AAVMF_CODE:-}" ]; then
    upa_use_firmware "${UPA_FIRMWARE:-installed}" || return 1
else
    : "${OVMF_CODE:=/usr/share/OVMF/OVMF_CODE_4M.fd}" "${OVMF_VARS:=/usr/share/OVMF/OVMF_VARS_4M.fd}"
    : "${AAVMF_CODE:=/usr/share/AAVMF/AAVMF_CODE.fd}" "${AAVMF_VARS:=/usr/share/AAVMF/AAVMF_VARS.fd}"
    UPA_X64_MACHINE=q35 UPA_X64_EXTRA=() UPA_AA64_BIOS='' UPA_X64_BIOS='' UPA_IA32_BIOS=''
    # shellcheck disable=SC2034 # used by the scripts that source this file
    UPA_FIRMWARE_LABEL="OVMF_CODE=$OVMF_CODE AAVMF_CODE=$AAVMF_CODE" UPA_LOG_TAG=.custom
fi
