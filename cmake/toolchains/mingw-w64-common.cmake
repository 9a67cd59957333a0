# Shared by mingw-w64-x86_64.cmake and mingw-w64-i686.cmake, which set
# _dllbridge_triple and CMAKE_SYSTEM_PROCESSOR and include this file.
# Windows cross build with MinGW-w64 (posix thread model) on a Debian
# x86-64 host; test programs run under Wine (scripts/wine.sh). Dependencies
# come from the prefix scripts/windows-deps.sh builds (run it first).
# Programs are linked fully static: an .exe needs no MinGW DLL beside it.
# This file is also CMake's user rules override (see the end of the file).
if(DEFINED CMAKE_FIND_LIBRARY_SUFFIXES AND CMAKE_USER_MAKE_RULES_OVERRIDE STREQUAL CMAKE_CURRENT_LIST_FILE)
  set(CMAKE_FIND_LIBRARY_SUFFIXES .a)   # included as the rules override: only this
  return()
endif()

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_C_COMPILER ${_dllbridge_triple}-gcc-posix)
set(CMAKE_CXX_COMPILER ${_dllbridge_triple}-g++-posix)
set(CMAKE_RC_COMPILER ${_dllbridge_triple}-windres)

# DLLBRIDGE_WINDEPS_PREFIX: the dependency prefix. By default the one
# windows-deps.sh names for the installed versions (asked again on every
# configure, so a version bump moves to the new prefix).
get_filename_component(_dllbridge_src "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
if(NOT DEFINED DLLBRIDGE_WINDEPS_PREFIX
   OR (DEFINED _DLLBRIDGE_WINDEPS_PREFIX_AUTO AND DLLBRIDGE_WINDEPS_PREFIX STREQUAL _DLLBRIDGE_WINDEPS_PREFIX_AUTO))
  execute_process(
    COMMAND "${_dllbridge_src}/scripts/windows-deps.sh" --print-prefix ${_dllbridge_triple}
    OUTPUT_VARIABLE _dllbridge_prefix ERROR_VARIABLE _dllbridge_err
    RESULT_VARIABLE _dllbridge_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _dllbridge_rc EQUAL 0 OR _dllbridge_prefix STREQUAL "")
    message(FATAL_ERROR "scripts/windows-deps.sh --print-prefix ${_dllbridge_triple} failed: ${_dllbridge_err}")
  endif()
  if(DEFINED _DLLBRIDGE_WINDEPS_PREFIX_AUTO AND NOT _dllbridge_prefix STREQUAL _DLLBRIDGE_WINDEPS_PREFIX_AUTO)
    message(WARNING "The Windows dependency prefix changed to ${_dllbridge_prefix}; "
                    "results cached from the old one remain: use a fresh build directory.")
  endif()
  set(DLLBRIDGE_WINDEPS_PREFIX "${_dllbridge_prefix}" CACHE PATH
      "Prefix with the ${_dllbridge_triple} dependencies (scripts/windows-deps.sh)" FORCE)
  set(_DLLBRIDGE_WINDEPS_PREFIX_AUTO "${_dllbridge_prefix}" CACHE INTERNAL "")
endif()
if(NOT IS_DIRECTORY "${DLLBRIDGE_WINDEPS_PREFIX}/lib")
  message(FATAL_ERROR "No ${_dllbridge_triple} dependencies at ${DLLBRIDGE_WINDEPS_PREFIX}: "
                      "run scripts/windows-deps.sh first.")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES DLLBRIDGE_WINDEPS_PREFIX)

# Search only the dependency prefix and the MinGW-w64 sysroot, never /usr/include
# or /usr/lib; programs (protoc) come from the host.
set(CMAKE_FIND_ROOT_PATH "${DLLBRIDGE_WINDEPS_PREFIX}" /usr/${_dllbridge_triple})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static libgcc, libstdc++ and winpthread (-static makes ld take libwinpthread.a).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc -static-libstdc++")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static -static-libgcc -static-libstdc++")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static -static-libgcc -static-libstdc++")

# ctest and gtest_discover_tests(... DISCOVERY_MODE PRE_TEST) run programs through Wine.
set(CMAKE_CROSSCOMPILING_EMULATOR "${_dllbridge_src}/scripts/wine.sh")

# find_library: static archives only (no .dll.a import libraries such as
# libwinpthread.dll.a). Platform/Windows-GNU.cmake sets this variable after
# the toolchain file is read, so set it again when CMake includes this file
# as the user rules override, which happens after the platform files.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
if(NOT DEFINED CMAKE_USER_MAKE_RULES_OVERRIDE)
  set(CMAKE_USER_MAKE_RULES_OVERRIDE "${CMAKE_CURRENT_LIST_FILE}")
endif()
