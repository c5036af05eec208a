/* pyconfig.h for cross-building CPython extensions for the python.org
 * Windows x64 builds with mingw-w64 gcc (tools/wine/run_tests.sh).
 *
 * python.org ships no headers for Windows on PyPI, so the build copies a
 * Linux CPython's Include/ and puts this file in place of its pyconfig.h.
 * Only what Python.h and the limited API need is here; the values are those
 * of CPython's PC/pyconfig.h for MS_WIN64 (LLP64: long is 32 bits).
 * HAVE_DECLSPEC_DLL makes PyAPI_FUNC/PyAPI_DATA dllimports, so the module
 * links straight against python3.dll. pid_t comes from mingw's headers. */
#ifndef Py_CONFIG_H
#define Py_CONFIG_H

#include <io.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#define MS_WIN32
#define MS_WIN64
#define MS_WINDOWS
#define MS_COREDLL
#define NT_THREADS
#define WITH_THREAD
#define Py_ENABLE_SHARED 1
#define HAVE_DECLSPEC_DLL
#define PLATFORM "win32"
#define COMPILER "[gcc]"
#define PYD_PLATFORM_TAG "win_amd64"

#define SIZEOF_SHORT 2
#define SIZEOF_INT 4
#define SIZEOF_LONG 4
#define SIZEOF_LONG_LONG 8
#define SIZEOF_VOID_P 8
#define SIZEOF_SIZE_T 8
#define SIZEOF_TIME_T 8
#define SIZEOF_OFF_T 4
#define SIZEOF_FPOS_T 8
#define SIZEOF_HKEY 8
#define SIZEOF_FLOAT 4
#define SIZEOF_DOUBLE 8
#define SIZEOF_WCHAR_T 2
#define SIZEOF__BOOL 1
#define SIZEOF_PID_T 4
#define ALIGNOF_LONG 4
#define ALIGNOF_SIZE_T 8
#define ALIGNOF_MAX_ALIGN_T 8
#define LONG_BIT 32
#define WORD_BIT 32

#define PY_LONG_LONG long long
#define PY_LLONG_MIN LLONG_MIN
#define PY_LLONG_MAX LLONG_MAX
#define PY_ULLONG_MAX ULLONG_MAX
#define PY_INT32_T int32_t
#define PY_UINT32_T uint32_t
#define PY_INT64_T int64_t
#define PY_UINT64_T uint64_t

#define HAVE_LARGEFILE_SUPPORT
#define HAVE_DYNAMIC_LOADING
#define HAVE_ERRNO_H 1
#define HAVE_FCNTL_H 1
#define HAVE_PROCESS_H 1
#define HAVE_SIGNAL_H 1
#define HAVE_STDDEF_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_WCHAR_H 1
#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1
#define WITH_DOC_STRINGS 1
#define WITH_PYMALLOC 1

#endif /* Py_CONFIG_H */
