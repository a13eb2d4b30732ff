/** @file
  The test app's output: a serial port written directly (so output also works after
  ExitBootServices and carries no console escape codes), a tiny printf, and the check counter.

  Output, one line each:
    ok - <name>
    FAIL - <name>: <detail>
    info: <text>
  and at the end `N passed, M failed`.
**/

#ifndef REPORT_H_
#define REPORT_H_

#include "efi_min.h"

typedef __builtin_va_list va_list;
#define va_start(ap, last) __builtin_va_start(ap, last)
#define va_end(ap)         __builtin_va_end(ap)

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Formats into Buffer (always NUL-terminated); returns the length written. Knows %s %c %p %%
   and %d %u %x %X with the flags '0' and '-', a width, and the lengths l, ll, z. */
UINTN vformat(char *Buffer, UINTN Capacity, const char *Format, va_list Args);
UINTN format(char *Buffer, UINTN Capacity, const char *Format, ...) PRINTF_LIKE(3, 4);

/* Formats into one of a few rotating static buffers: for names and details of checks. */
const char *S(const char *Format, ...) PRINTF_LIKE(1, 2);

/* Writes one line to the serial port (a newline is added). */
void say(const char *Format, ...) PRINTF_LIKE(1, 2);
void info(const char *Format, ...) PRINTF_LIKE(1, 2);

/* One check, one line. Returns Ok. Detail is printed only on failure and may be NULL. */
BOOLEAN check(BOOLEAN Ok, const char *Name, const char *Detail);
/* A check of a status: "got X, expected Y" on failure. */
BOOLEAN check_status(EFI_STATUS Got, EFI_STATUS Expected, const char *Name);

const char *status_name(EFI_STATUS Status);

/* "N passed, M failed" */
void report_summary(void);
UINT64 checks_failed(void);

/* A free-running counter and its rate; timer_init calibrates it (x64: against Stall). */
void timer_init(EFI_BOOT_SERVICES *BootServices);
UINT64 timer_ticks(void);
UINT64 ticks_to_ms(UINT64 Ticks);

#endif /* REPORT_H_ */
