# 32-bit Windows cross build with MinGW-w64 (i686-w64-mingw32); the rest is
# in mingw-w64-common.cmake.
set(_dllbridge_triple i686-w64-mingw32)
set(CMAKE_SYSTEM_PROCESSOR x86)
include("${CMAKE_CURRENT_LIST_DIR}/mingw-w64-common.cmake")
