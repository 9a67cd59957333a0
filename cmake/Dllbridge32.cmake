# Builds the 32-bit part (surrogate32, 32-bit sample library) from this same
# source tree with the i386 toolchain, as part of the host build.
if(NOT DLLBRIDGE_BUILD_32BIT)
  return()
endif()
include(ExternalProject)
set(DLLBRIDGE32_BINARY_DIR ${PROJECT_BINARY_DIR}/i386)
if(WIN32)
  set(_toolchain32 ${PROJECT_SOURCE_DIR}/cmake/toolchains/mingw-w64-i686.cmake)
else()
  set(_toolchain32 ${PROJECT_SOURCE_DIR}/cmake/toolchains/linux-i386.cmake)
endif()
ExternalProject_Add(dllbridge32
  SOURCE_DIR ${PROJECT_SOURCE_DIR}
  BINARY_DIR ${DLLBRIDGE32_BINARY_DIR}
  CMAKE_ARGS
    -DCMAKE_TOOLCHAIN_FILE=${_toolchain32}
    -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}
    -DDLLBRIDGE_PART=surrogate
    -DDLLBRIDGE_RUNTIME_DIR=${DLLBRIDGE_RUNTIME_DIR}
    -DDLLBRIDGE_SANITIZE=${DLLBRIDGE_SANITIZE}
  INSTALL_COMMAND ""
  BUILD_ALWAYS ON
  USES_TERMINAL_BUILD ON)
set(DLLBRIDGE_SURROGATE32 ${DLLBRIDGE_RUNTIME_DIR}/surrogate32${CMAKE_EXECUTABLE_SUFFIX})
if(WIN32)
  set(DLLBRIDGE_SAMPLE32 ${DLLBRIDGE32_BINARY_DIR}/lib/sample.dll)
else()
  set(DLLBRIDGE_SAMPLE32 ${DLLBRIDGE32_BINARY_DIR}/lib/libsample.so)
endif()
install(PROGRAMS ${DLLBRIDGE_SURROGATE32} DESTINATION ${CMAKE_INSTALL_BINDIR})
