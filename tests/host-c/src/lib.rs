//! Links the C test program to the library: the program calls the `pool_*` exports through the
//! header's EFIAPI prototypes, so a disagreement between header and exports shows up here.

// Links the library's exports, which only the C program names.
extern crate uefi_pool_alloc;

unsafe extern "C" {
    /// Runs the C checks on an initialised library; returns the number of failed checks.
    pub fn c_api_test(image: *mut core::ffi::c_void, system_table: *mut core::ffi::c_void) -> i32;
}
