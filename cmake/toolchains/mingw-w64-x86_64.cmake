# 64-bit Windows cross build with MinGW-w64 (x86_64-w64-mingw32); the rest is
# in mingw-w64-common.cmake.
set(_dllbridge_triple x86_64-w64-mingw32)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
include("${CMAKE_CURRENT_LIST_DIR}/mingw-w64-common.cmake")
