# Where the build puts the programs and libraries that the tests and the
# benchmarks drive, as those programs see them (under Wine, Unix paths live
# on Z:). Included by the host build after Dllbridge32; shared by tests/ and
# bench/ so that either builds without the other.
#
# dllbridge_write_paths(TEMPLATE OUTPUT) configures TEMPLATE (@ONLY) into
# OUTPUT with these variables set:
#   DLLBRIDGE_HAVE_32          1 when the 32-bit part is built, else 0
#   DLLBRIDGE_HAVE_CALL_TOOL   1 when dllbridge-call is built, else 0
#   TEST_SURROGATE32 / TEST_SAMPLE32   the 32-bit surrogate and sample ("" without the 32-bit part)
#   TEST_SURROGATE64 / TEST_SAMPLE64   the host-bitness surrogate and sample
#   TEST_NEEDS_DEP32 / TEST_NEEDS_DEP64   Windows only: a DLL whose dependency cannot be found
#   TEST_DLLBRIDGE_CALL        the dllbridge-call program

if(DLLBRIDGE_BUILD_32BIT)
  set(DLLBRIDGE_HAVE_32 1)
else()
  set(DLLBRIDGE_HAVE_32 0)
endif()
if(TARGET dllbridge-call)
  set(DLLBRIDGE_HAVE_CALL_TOOL 1)
else()
  set(DLLBRIDGE_HAVE_CALL_TOOL 0)
endif()

if(WIN32 AND CMAKE_CROSSCOMPILING)
  set(_dllbridge_drive "Z:")
else()
  set(_dllbridge_drive "")
endif()
if(DLLBRIDGE_HAVE_32)
  set(TEST_SURROGATE32 "${_dllbridge_drive}${DLLBRIDGE_SURROGATE32}")
  set(TEST_SAMPLE32 "${_dllbridge_drive}${DLLBRIDGE_SAMPLE32}")
else()
  set(TEST_SURROGATE32 "")
  set(TEST_SAMPLE32 "")
endif()
set(TEST_SURROGATE64 "${_dllbridge_drive}${DLLBRIDGE_RUNTIME_DIR}/surrogate64${CMAKE_EXECUTABLE_SUFFIX}")
if(WIN32)
  set(TEST_SAMPLE64 "${_dllbridge_drive}${DLLBRIDGE_RUNTIME_DIR}/sample.dll")
  set(TEST_NEEDS_DEP64 "${_dllbridge_drive}${DLLBRIDGE_RUNTIME_DIR}/sample_needs_dep.dll")
  if(DLLBRIDGE_HAVE_32)
    set(TEST_NEEDS_DEP32 "${_dllbridge_drive}${DLLBRIDGE32_BINARY_DIR}/lib/sample_needs_dep.dll")
  else()
    set(TEST_NEEDS_DEP32 "")
  endif()
else()
  set(TEST_SAMPLE64 "${PROJECT_BINARY_DIR}/lib/libsample.so")
  set(TEST_NEEDS_DEP32 "")
  set(TEST_NEEDS_DEP64 "")
endif()
set(TEST_DLLBRIDGE_CALL "${_dllbridge_drive}${DLLBRIDGE_RUNTIME_DIR}/dllbridge-call${CMAKE_EXECUTABLE_SUFFIX}")

function(dllbridge_write_paths template output)
  configure_file(${template} ${output} @ONLY)
endfunction()
