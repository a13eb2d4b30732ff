/** @file
  The few UEFI 2.10 definitions the firmware test app needs, spec-faithful and minimal, for X64
  and AArch64 (both LLP64 in their PE/COFF form). Builds on uefi_pool_alloc.h's standalone mode,
  which defines UINTN, UINT32, UINT64, BOOLEAN, VOID, EFI_STATUS, EFI_HANDLE, IN, OUT, EFIAPI and
  declares `struct _EFI_SYSTEM_TABLE`, completed here.

  Tables are laid out exactly as in the specification (every Boot Services field in order);
  services the app does not call are typed as plain function pointers.
**/

#ifndef EFI_MIN_H_
#define EFI_MIN_H_

#include "uefi_pool_alloc.h"

typedef unsigned char UINT8;
typedef unsigned short UINT16;
typedef unsigned short CHAR16;
typedef signed long long INT64;
typedef VOID *EFI_EVENT;
typedef UINTN EFI_TPL;
typedef UINT64 EFI_PHYSICAL_ADDRESS;
typedef UINT64 EFI_VIRTUAL_ADDRESS;

#define TRUE  ((BOOLEAN)1)
#define FALSE ((BOOLEAN)0)
#ifndef NULL
#define NULL ((VOID *)0)
#endif
#define OPTIONAL

#define MAX_UINTN ((UINTN)~(UINTN)0)

/* Status codes (Appendix D): errors have the top bit of UINTN set. */
#define EFI_ERROR_BIT           ((UINTN)1 << (sizeof(UINTN) * 8 - 1))
#define EFIERR(a)               (EFI_ERROR_BIT | (UINTN)(a))
#define EFI_ERROR(s)            ((((EFI_STATUS)(s)) & EFI_ERROR_BIT) != 0)
#define EFI_SUCCESS             ((EFI_STATUS)0)
#define EFI_INVALID_PARAMETER   EFIERR(2)
#define EFI_UNSUPPORTED         EFIERR(3)
#define EFI_BUFFER_TOO_SMALL    EFIERR(5)
#define EFI_OUT_OF_RESOURCES    EFIERR(9)
#define EFI_NOT_FOUND           EFIERR(14)
#define EFI_NOT_STARTED         EFIERR(19)
#define EFI_ALREADY_STARTED     EFIERR(20)

typedef struct {
  UINT32  Data1;
  UINT16  Data2;
  UINT16  Data3;
  UINT8   Data4[8];
} EFI_GUID;

typedef struct {
  UINT64  Signature;
  UINT32  Revision;
  UINT32  HeaderSize;
  UINT32  CRC32;
  UINT32  Reserved;
} EFI_TABLE_HEADER;

#define EFI_SYSTEM_TABLE_SIGNATURE  0x5453595320494249ULL   /* "IBI SYST" */

/* EFI_MEMORY_TYPE: an enum in the spec, 32 bits wide in every ABI UEFI uses. */
typedef UINT32 EFI_MEMORY_TYPE;
#define EfiReservedMemoryType       0
#define EfiLoaderCode               1
#define EfiLoaderData               2
#define EfiBootServicesCode         3
#define EfiBootServicesData         4
#define EfiRuntimeServicesCode      5
#define EfiRuntimeServicesData      6
#define EfiConventionalMemory       7
#define EfiUnusableMemory           8
#define EfiACPIReclaimMemory        9
#define EfiACPIMemoryNVS            10
#define EfiMemoryMappedIO           11
#define EfiMemoryMappedIOPortSpace  12
#define EfiPalCode                  13
#define EfiPersistentMemory         14
#define EfiUnacceptedMemoryType     15
#define EfiMaxMemoryType            16

typedef UINT32 EFI_ALLOCATE_TYPE;
#define AllocateAnyPages    0
#define AllocateMaxAddress  1
#define AllocateAddress     2

typedef UINT32 EFI_TIMER_DELAY;
#define TimerCancel    0
#define TimerPeriodic  1
#define TimerRelative  2

typedef UINT32 EFI_RESET_TYPE;
#define EfiResetCold      0
#define EfiResetWarm      1
#define EfiResetShutdown  2

#define TPL_APPLICATION  4
#define TPL_CALLBACK     8
#define TPL_NOTIFY       16
#define TPL_HIGH_LEVEL   31

#define EVT_TIMER                          0x80000000U
#define EVT_RUNTIME                        0x40000000U
#define EVT_NOTIFY_WAIT                    0x00000100U
#define EVT_NOTIFY_SIGNAL                  0x00000200U
#define EVT_SIGNAL_EXIT_BOOT_SERVICES      0x00000201U
#define EVT_SIGNAL_VIRTUAL_ADDRESS_CHANGE  0x60000202U

#define EFI_PAGE_SIZE  4096

typedef struct {
  UINT32                Type;
  EFI_PHYSICAL_ADDRESS  PhysicalStart;
  EFI_VIRTUAL_ADDRESS   VirtualStart;
  UINT64                NumberOfPages;
  UINT64                Attribute;
} EFI_MEMORY_DESCRIPTOR;

typedef VOID (EFIAPI *EFI_EVENT_NOTIFY)(IN EFI_EVENT Event, IN VOID *Context);

/* A Boot or Runtime Service the app never calls: only its slot matters. */
typedef EFI_STATUS (EFIAPI *EFI_UNUSED_SERVICE)(VOID);

/* ---- Simple Text Output Protocol ------------------------------------------------------- */

typedef struct _EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL;

typedef struct {
  UINT32   MaxMode;
  UINT32   Mode;
  UINT32   Attribute;
  UINT32   CursorColumn;
  UINT32   CursorRow;
  BOOLEAN  CursorVisible;
} SIMPLE_TEXT_OUTPUT_MODE;

struct _EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL {
  EFI_STATUS (EFIAPI *Reset)(IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
                             IN BOOLEAN ExtendedVerification);
  EFI_STATUS (EFIAPI *OutputString)(IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
                                    IN CHAR16 *String);
  EFI_STATUS (EFIAPI *TestString)(IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
                                  IN CHAR16 *String);
  EFI_STATUS (EFIAPI *QueryMode)(IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
                                 IN UINTN ModeNumber, OUT UINTN *Columns, OUT UINTN *Rows);
  EFI_STATUS (EFIAPI *SetMode)(IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, IN UINTN ModeNumber);
  EFI_STATUS (EFIAPI *SetAttribute)(IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
                                    IN UINTN Attribute);
  EFI_STATUS (EFIAPI *ClearScreen)(IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This);
  EFI_STATUS (EFIAPI *SetCursorPosition)(IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
                                         IN UINTN Column, IN UINTN Row);
  EFI_STATUS (EFIAPI *EnableCursor)(IN EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This,
                                    IN BOOLEAN Visible);
  SIMPLE_TEXT_OUTPUT_MODE  *Mode;
};

/* ---- Runtime Services (up to ResetSystem) ---------------------------------------------- */

typedef struct {
  EFI_TABLE_HEADER    Hdr;
  EFI_UNUSED_SERVICE  GetTime;
  EFI_UNUSED_SERVICE  SetTime;
  EFI_UNUSED_SERVICE  GetWakeupTime;
  EFI_UNUSED_SERVICE  SetWakeupTime;
  EFI_UNUSED_SERVICE  SetVirtualAddressMap;
  EFI_UNUSED_SERVICE  ConvertPointer;
  EFI_UNUSED_SERVICE  GetVariable;
  EFI_UNUSED_SERVICE  GetNextVariableName;
  EFI_UNUSED_SERVICE  SetVariable;
  EFI_UNUSED_SERVICE  GetNextHighMonotonicCount;
  VOID (EFIAPI *ResetSystem)(IN EFI_RESET_TYPE ResetType, IN EFI_STATUS ResetStatus,
                             IN UINTN DataSize, IN VOID *ResetData OPTIONAL);
  /* UpdateCapsule, QueryCapsuleCapabilities, QueryVariableInfo follow; not needed. */
} EFI_RUNTIME_SERVICES;

/* ---- Boot Services (every field, in order) --------------------------------------------- */

typedef struct {
  EFI_TABLE_HEADER  Hdr;

  /* Task priority */
  EFI_TPL (EFIAPI *RaiseTPL)(IN EFI_TPL NewTpl);
  VOID (EFIAPI *RestoreTPL)(IN EFI_TPL OldTpl);

  /* Memory */
  EFI_STATUS (EFIAPI *AllocatePages)(IN EFI_ALLOCATE_TYPE Type, IN EFI_MEMORY_TYPE MemoryType,
                                     IN UINTN Pages, IN OUT EFI_PHYSICAL_ADDRESS *Memory);
  EFI_STATUS (EFIAPI *FreePages)(IN EFI_PHYSICAL_ADDRESS Memory, IN UINTN Pages);
  EFI_STATUS (EFIAPI *GetMemoryMap)(IN OUT UINTN *MemoryMapSize,
                                    OUT EFI_MEMORY_DESCRIPTOR *MemoryMap, OUT UINTN *MapKey,
                                    OUT UINTN *DescriptorSize, OUT UINT32 *DescriptorVersion);
  EFI_STATUS (EFIAPI *AllocatePool)(IN EFI_MEMORY_TYPE PoolType, IN UINTN Size,
                                    OUT VOID **Buffer);
  EFI_STATUS (EFIAPI *FreePool)(IN VOID *Buffer);

  /* Events and timers */
  EFI_STATUS (EFIAPI *CreateEvent)(IN UINT32 Type, IN EFI_TPL NotifyTpl,
                                   IN EFI_EVENT_NOTIFY NotifyFunction OPTIONAL,
                                   IN VOID *NotifyContext OPTIONAL, OUT EFI_EVENT *Event);
  EFI_STATUS (EFIAPI *SetTimer)(IN EFI_EVENT Event, IN EFI_TIMER_DELAY Type,
                                IN UINT64 TriggerTime);
  EFI_STATUS (EFIAPI *WaitForEvent)(IN UINTN NumberOfEvents, IN EFI_EVENT *Event,
                                    OUT UINTN *Index);
  EFI_STATUS (EFIAPI *SignalEvent)(IN EFI_EVENT Event);
  EFI_STATUS (EFIAPI *CloseEvent)(IN EFI_EVENT Event);
  EFI_STATUS (EFIAPI *CheckEvent)(IN EFI_EVENT Event);

  /* Protocol handlers */
  EFI_STATUS (EFIAPI *InstallProtocolInterface)(IN OUT EFI_HANDLE *Handle, IN EFI_GUID *Protocol,
                                                IN UINT32 InterfaceType, IN VOID *Interface);
  EFI_UNUSED_SERVICE  ReinstallProtocolInterface;
  EFI_UNUSED_SERVICE  UninstallProtocolInterface;
  EFI_STATUS (EFIAPI *HandleProtocol)(IN EFI_HANDLE Handle, IN EFI_GUID *Protocol,
                                      OUT VOID **Interface);
  VOID                *Reserved;
  EFI_UNUSED_SERVICE  RegisterProtocolNotify;
  EFI_UNUSED_SERVICE  LocateHandle;
  EFI_UNUSED_SERVICE  LocateDevicePath;
  EFI_UNUSED_SERVICE  InstallConfigurationTable;

  /* Images */
  EFI_STATUS (EFIAPI *LoadImage)(IN BOOLEAN BootPolicy, IN EFI_HANDLE ParentImageHandle,
                                 IN VOID *DevicePath, IN VOID *SourceBuffer, IN UINTN SourceSize,
                                 OUT EFI_HANDLE *ImageHandle);
  EFI_STATUS (EFIAPI *StartImage)(IN EFI_HANDLE ImageHandle, OUT UINTN *ExitDataSize,
                                  OUT CHAR16 **ExitData);
  EFI_UNUSED_SERVICE  Exit;
  EFI_STATUS (EFIAPI *UnloadImage)(IN EFI_HANDLE ImageHandle);
  EFI_STATUS (EFIAPI *ExitBootServices)(IN EFI_HANDLE ImageHandle, IN UINTN MapKey);

  /* Miscellaneous */
  EFI_UNUSED_SERVICE  GetNextMonotonicCount;
  EFI_STATUS (EFIAPI *Stall)(IN UINTN Microseconds);
  EFI_STATUS (EFIAPI *SetWatchdogTimer)(IN UINTN Timeout, IN UINT64 WatchdogCode,
                                        IN UINTN DataSize, IN CHAR16 *WatchdogData OPTIONAL);

  /* Driver support */
  EFI_UNUSED_SERVICE  ConnectController;
  EFI_UNUSED_SERVICE  DisconnectController;

  /* Open and close protocol */
  EFI_UNUSED_SERVICE  OpenProtocol;
  EFI_UNUSED_SERVICE  CloseProtocol;
  EFI_UNUSED_SERVICE  OpenProtocolInformation;

  /* Library */
  EFI_UNUSED_SERVICE  ProtocolsPerHandle;
  EFI_UNUSED_SERVICE  LocateHandleBuffer;
  EFI_STATUS (EFIAPI *LocateProtocol)(IN EFI_GUID *Protocol, IN VOID *Registration,
                                      OUT VOID **Interface);
  EFI_UNUSED_SERVICE  InstallMultipleProtocolInterfaces;
  EFI_UNUSED_SERVICE  UninstallMultipleProtocolInterfaces;

  /* 32-bit CRC */
  EFI_UNUSED_SERVICE  CalculateCrc32;

  /* Miscellaneous */
  EFI_UNUSED_SERVICE  CopyMem;
  EFI_UNUSED_SERVICE  SetMem;
  EFI_UNUSED_SERVICE  CreateEventEx;
} EFI_BOOT_SERVICES;

/* ---- System table ---------------------------------------------------------------------- */

struct _EFI_SYSTEM_TABLE {
  EFI_TABLE_HEADER                 Hdr;
  CHAR16                           *FirmwareVendor;
  UINT32                           FirmwareRevision;
  EFI_HANDLE                       ConsoleInHandle;
  VOID                             *ConIn;   /* EFI_SIMPLE_TEXT_INPUT_PROTOCOL: not needed */
  EFI_HANDLE                       ConsoleOutHandle;
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL  *ConOut;
  EFI_HANDLE                       StandardErrorHandle;
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL  *StdErr;
  EFI_RUNTIME_SERVICES             *RuntimeServices;
  EFI_BOOT_SERVICES                *BootServices;
  UINTN                            NumberOfTableEntries;
  VOID                             *ConfigurationTable;   /* EFI_CONFIGURATION_TABLE * */
};

/* ---- Loaded Image Protocol ------------------------------------------------------------- */

#define EFI_LOADED_IMAGE_PROTOCOL_GUID \
  { 0x5B1B31A1, 0x9562, 0x11d2, { 0x8E, 0x3F, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B } }

typedef struct {
  UINT32            Revision;
  EFI_HANDLE        ParentHandle;
  EFI_SYSTEM_TABLE  *SystemTable;
  EFI_HANDLE        DeviceHandle;
  VOID              *FilePath;        /* EFI_DEVICE_PATH_PROTOCOL * */
  VOID              *Reserved;
  UINT32            LoadOptionsSize;
  VOID              *LoadOptions;
  VOID              *ImageBase;
  UINT64            ImageSize;
  EFI_MEMORY_TYPE   ImageCodeType;
  EFI_MEMORY_TYPE   ImageDataType;
  EFI_STATUS (EFIAPI *Unload)(IN EFI_HANDLE ImageHandle);
} EFI_LOADED_IMAGE_PROTOCOL;

/* Layout checks against the offsets every 64-bit firmware uses. */
#if defined(__x86_64__) || defined(__aarch64__)
_Static_assert(sizeof(EFI_TABLE_HEADER) == 24, "EFI_TABLE_HEADER");
_Static_assert(__builtin_offsetof(EFI_BOOT_SERVICES, AllocatePool) == 0x40, "AllocatePool");
_Static_assert(__builtin_offsetof(EFI_BOOT_SERVICES, HandleProtocol) == 0x98, "HandleProtocol");
_Static_assert(__builtin_offsetof(EFI_BOOT_SERVICES, ExitBootServices) == 0xE8, "ExitBootServices");
_Static_assert(sizeof(EFI_BOOT_SERVICES) == 0x178, "EFI_BOOT_SERVICES");
_Static_assert(__builtin_offsetof(EFI_RUNTIME_SERVICES, ResetSystem) == 0x68, "ResetSystem");
_Static_assert(__builtin_offsetof(EFI_SYSTEM_TABLE, BootServices) == 0x60, "BootServices");
_Static_assert(sizeof(EFI_MEMORY_DESCRIPTOR) == 40, "EFI_MEMORY_DESCRIPTOR");
_Static_assert(__builtin_offsetof(EFI_LOADED_IMAGE_PROTOCOL, ImageDataType) == 0x54, "ImageDataType");
#endif

#endif /* EFI_MIN_H_ */
