#!/usr/bin/env bash
# Print the path of the cached Debian EDK2 2022.11 source tree, fetching it the first time
# (about 17 MB; see edk2_src in lib.sh). Cache: ${UEFI_POOL_ALLOC_CACHE:-~/.cache/uefi-pool-alloc}.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
edk2_src
