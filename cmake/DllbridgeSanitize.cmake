# Sanitizer and fuzzing builds (docs/security.md). Each goes in a build tree of
# its own (scripts/test.sh --sanitize: build-asan/, build-tsan/;
# scripts/fuzz.sh: build-fuzz/).
#
#   DLLBRIDGE_SANITIZE=address  AddressSanitizer + UndefinedBehaviorSanitizer on
#                               everything built here (the 32-bit part too), any
#                               undefined behaviour fatal (-fno-sanitize-recover)
#   DLLBRIDGE_SANITIZE=thread   ThreadSanitizer (64-bit only: no i386 runtime)
#   DLLBRIDGE_FUZZ=ON           clang only: the libFuzzer targets of fuzz/, with
#                               ASan + UBSan and coverage on everything built here
set(DLLBRIDGE_SANITIZE "" CACHE STRING "Sanitizers for everything built: '' | address | thread")
set_property(CACHE DLLBRIDGE_SANITIZE PROPERTY STRINGS "" address thread)
option(DLLBRIDGE_FUZZ "Build the libFuzzer targets of fuzz/ (clang; ASan + UBSan)" OFF)

if((DLLBRIDGE_FUZZ OR DLLBRIDGE_SANITIZE) AND (WIN32 OR MSVC))
  message(FATAL_ERROR "The sanitizer and fuzzing builds are for Linux only")
endif()
if(DLLBRIDGE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DLLBRIDGE_FUZZ needs clang (scripts/fuzz.sh configures clang-14)")
  endif()
  if(DLLBRIDGE_SANITIZE)
    message(FATAL_ERROR "DLLBRIDGE_FUZZ brings its own sanitizers: leave DLLBRIDGE_SANITIZE empty")
  endif()
  # Coverage for the fuzzer on every object; the fuzz programs link -fsanitize=fuzzer.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(DLLBRIDGE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(DLLBRIDGE_SANITIZE STREQUAL "thread")
  if(CMAKE_SIZEOF_VOID_P EQUAL 4)
    message(FATAL_ERROR "ThreadSanitizer has no 32-bit runtime: configure with DLLBRIDGE_BUILD_32BIT=OFF")
  endif()
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(DLLBRIDGE_SANITIZE)
  message(FATAL_ERROR "DLLBRIDGE_SANITIZE must be empty, address or thread, not '${DLLBRIDGE_SANITIZE}'")
endif()

# dllbridge_sanitize_dll(TARGET): for a library that stands in for the user's
# DLL (sample-dll/): AddressSanitizer only, so that an overrun of a buffer the
# surrogate sized is caught inside the DLL, while the DLL's own undefined
# behaviour (add()'s signed overflow, as a C DLL may have) is its business.
# No fuzzer coverage in it either: libFuzzer would read its counters after the
# surrogate unloads it.
function(dllbridge_sanitize_dll target)
  if(DLLBRIDGE_FUZZ)
    target_compile_options(${target} PRIVATE -fno-sanitize=undefined,fuzzer-no-link)
  elseif(DLLBRIDGE_SANITIZE STREQUAL "address")
    target_compile_options(${target} PRIVATE -fno-sanitize=undefined)
  endif()
endfunction()
