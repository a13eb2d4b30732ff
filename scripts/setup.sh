#!/usr/bin/env bash
# Install what building and testing this project needs, and only what is missing:
# Debian packages (as root; otherwise print the apt-get command and fail), the Rust
# cross targets, nightly's miri with its sysroot, and edk2-pytool-library from PyPI (the EDK2
# package's INF/DEC/DSC parser check). Safe to run again: with everything present it only looks
# (well under 2 s).
set -euo pipefail

# Debian packages, and why:
#   qemu-system-x86 qemu-system-arm   boot tests in firmware (TCG)
#   ovmf qemu-efi-aarch64             the firmware images (OVMF_*_4M.fd, AAVMF_*.fd)
#   ovmf-ia32                         IA32 firmware (OVMF32_*_4M.fd; qemu-system-i386 is in -x86)
#   u-boot-qemu                       U-Boot's UEFI as a second firmware (qemu_arm64/u-boot.bin,
#                                     qemu-x86_64/u-boot.rom, qemu-x86/u-boot.rom) and the
#                                     RISC-V one (qemu-riscv64_smode/u-boot.bin)
#   qemu-system-misc / -riscv, opensbi  RISC-V 64 boots (QEMU 7.2 has it in -misc, 10.x in -riscv)
#   clang-19 lld-19 llvm-19           C test apps for the UEFI COFF targets, lld-link, llvm-lib/objcopy
#   gcc g++ make python3              host C/C++ compilers (header checks); EDK2 BaseTools
#   gnu-efi                           header checks and gnu-efi style ELF apps
#   mtools                            FAT images
#   nasm acpica-tools uuid-dev        EDK2 builds (BaseTools, .nasm, .asl)
#   dpkg-dev                          dpkg-source, to unpack Debian's EDK2 source (edk2-src.sh)
#   valgrind                          instruction counts of host benchmarks
#   gcc-aarch64-linux-gnu             EDK2 GCC5 AARCH64 builds (its binutils also link CLANG38 AARCH64)
#   gcc-riscv64-linux-gnu             EDK2 GCC5/GCC RISCV64 builds
#   (linter) shellcheck               lint of these scripts
# QEMU's packages follow the installed qemu-utils (below): 10.x from backports splits RISC-V out.
qemu_utils=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' qemu-utils 2>/dev/null |
             awk '$1 == "ii" { print $2 }') || true
case $qemu_utils in
    1:[1-9][0-9].*) qemu_riscv="qemu-system-riscv" ;;
    *) qemu_riscv="qemu-system-misc" ;;
esac
packages=(
    qemu-system-x86 qemu-system-arm "$qemu_riscv" opensbi ovmf ovmf-ia32 qemu-efi-aarch64 u-boot-qemu
    clang-19 lld-19 llvm-19 gcc g++ make python3
    gnu-efi mtools nasm acpica-tools uuid-dev dpkg-dev valgrind shellcheck gcc-aarch64-linux-gnu
    gcc-riscv64-linux-gnu python3-pip
)
rust_targets=(x86_64-unknown-uefi aarch64-unknown-uefi x86_64-unknown-none aarch64-unknown-none
              riscv64imac-unknown-none-elf)
nightly_components=(miri rust-src)

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
status=0

# --- Debian packages ---------------------------------------------------------------------
# One dpkg-query for all: a missing package prints nothing on stdout.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null |
            awk '$2 == "ii" { print $1 }') || true
missing=()
for p in "${packages[@]}"; do
    grep -qxF "$p" <<<"$installed" || missing+=("$p")
done

# QEMU's packages must all come from one QEMU release. A machine may already carry a newer
# qemu-utils than its release (Debian 12 images ship 10.x from backports): never downgrade it,
# take the missing qemu-system packages from the suite that built it instead, through a private
# apt (the host's sources, lists and settings stay as they are). If no configured suite has that
# version, stop and print what the user may run.
qemu_suite=''
if printf '%s\n' "${missing[@]}" | grep -qE '^(qemu-system-.*|opensbi)$'; then
    candidate=$(apt-cache policy qemu-system-x86 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
    if [ -n "$qemu_utils" ] && [ "$qemu_utils" != "$candidate" ]; then
        codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
        case $qemu_utils in
            *~bpo*) qemu_suite=$codename-backports ;;
            *)
                echo "setup: qemu-utils $qemu_utils is installed, but this machine's apt offers qemu-system $candidate:" >&2
                echo "setup: install qemu-system-x86 and qemu-system-arm of version $qemu_utils yourself, or let apt replace qemu-utils:" >&2
                echo "  apt-get install --allow-downgrades qemu-utils=$candidate ${missing[*]}" >&2
                exit 1
                ;;
        esac
    fi
fi

if [ "${#missing[@]}" -gt 0 ] && [ -n "$qemu_suite" ]; then
    # For upa_private_apt; the firmware it selects is not needed here.
    # shellcheck source=lib.sh source-path=SCRIPTDIR
    UPA_FIRMWARE=installed . "$repo/scripts/lib.sh"
    apt_work=$UPA_CACHE/apt-$qemu_suite
    # The host's suites plus QEMU's, for the dependencies of the newer QEMU.
    upa_private_apt "$apt_work/suite" deb "$qemu_suite"
    upa_private_apt "$apt_work" deb
    for f in "$apt_work/suite/sources.list.d"/*; do
        cat "$f" >> "$apt_work/sources.list.d/$(basename "$f")"
    done
    # QEMU (and OpenSBI: QEMU 10 needs a newer one than Debian 12's) in a transaction of its
    # own with the suite as target release, so that the dependencies pinned to QEMU's version
    # (qemu-system-common/-data, seabios) come from that suite too: `pkg/suite` alone leaves
    # them at the release's versions and apt gives up. The rest come from the host's suites.
    qemu_set=() rest=()
    for p in "${missing[@]}"; do
        case $p in qemu-system-*|opensbi) qemu_set+=("$p") ;; *) rest+=("$p") ;; esac
    done
    # Auto-installed marks go to the host's own record, so that apt autoremove stays right.
    cmd=("${UPA_APT[@]}" -o Dir::State::extended_states=/var/lib/apt/extended_states
         install -y --no-install-recommends)
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing ${missing[*]} (QEMU from $qemu_suite, as the installed qemu-utils $qemu_utils)" >&2
        export DEBIAN_FRONTEND=noninteractive
        "${UPA_APT[@]}" update
        [ "${#rest[@]}" -eq 0 ] || "${cmd[@]}" "${rest[@]}"
        [ "${#qemu_set[@]}" -eq 0 ] || "${cmd[@]}" -t "$qemu_suite" "${qemu_set[@]}"
    else
        echo "setup: missing Debian packages: ${missing[*]}; QEMU must come from $qemu_suite (qemu-utils $qemu_utils is installed)" >&2
        echo "setup: run as root: scripts/setup.sh" >&2
        status=1
    fi
elif [ "${#missing[@]}" -gt 0 ]; then
    cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        "${cmd[@]}"
    else
        echo "setup: missing Debian packages: ${missing[*]}" >&2
        echo "setup: run as root:" >&2
        echo "  apt-get update && DEBIAN_FRONTEND=noninteractive ${cmd[*]}" >&2
        status=1
    fi
fi

# --- Rust ----------------------------------------------------------------------------------
# RUSTUP_AUTO_INSTALL=0 on these machines: targets and toolchains are never fetched
# implicitly, so add them here. Targets go to the toolchain cargo uses in this repository.
if ! command -v rustup >/dev/null; then
    echo "setup: rustup not found: install Rust with rustup (Debian 13 / Ubuntu 24.04: 'apt-get install rustup'," >&2
    echo "       then 'rustup default stable'), then run this again" >&2
    exit 1
fi
toolchain=$(cd "$repo" && rustup show active-toolchain) || {
    echo "setup: rustup has no default toolchain: run 'rustup default stable'" >&2
    exit 1
}
toolchain=${toolchain%% *}
have_targets=$(rustup target list --installed --toolchain "$toolchain")
need=()
for t in "${rust_targets[@]}"; do
    grep -qxF "$t" <<<"$have_targets" || need+=("$t")
done
if [ "${#need[@]}" -gt 0 ]; then
    rustup target add --toolchain "$toolchain" "${need[@]}"
fi
have_components=$(rustup component list --installed --toolchain "$toolchain")
for c in rustfmt clippy; do
    grep -qE "^$c(-|$)" <<<"$have_components" || rustup component add --toolchain "$toolchain" "$c"
done

# Nightly only for miri (and rust-src, which miri builds its sysroot from).
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
have_components=$(rustup component list --installed --toolchain nightly)
need=()
for c in "${nightly_components[@]}"; do
    grep -qE "^$c(-|$)" <<<"$have_components" || need+=("$c")
done
if [ "${#need[@]}" -gt 0 ]; then
    rustup component add --toolchain nightly "${need[@]}"
fi
# Build miri's sysroot now (~25 s once; std's dependencies come from crates.io) rather than
# inside the first test run. A no-op taking ~0.1 s once built.
(cd / && cargo +nightly miri setup >/dev/null)

# --- Python ----------------------------------------------------------------------------------
if ! python3 -c 'import edk2toollib' 2>/dev/null; then
    # Debian's own python3 refuses --user installs (PEP 668) without --break-system-packages,
    # which here only touches ~/.local.
    python3 -m pip install --quiet --user edk2-pytool-library 2>/dev/null ||
        python3 -m pip install --quiet --user --break-system-packages edk2-pytool-library ||
        { echo "setup: run: python3 -m pip install --user edk2-pytool-library" >&2; status=1; }
fi

if [ "$status" = 0 ]; then
    echo "setup: everything present" >&2
fi
exit "$status"
