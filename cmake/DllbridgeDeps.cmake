# Finds the libraries both parts build against. In a 32-bit build the
# toolchain file points the searches at the i386 multiarch folders.
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)   # FindProtobuf: Debian ships no config file
find_package(spdlog REQUIRED)

if(NOT TARGET dllbridge::protobuf_lite)
  add_library(dllbridge::protobuf_lite INTERFACE IMPORTED)
  # The 32-bit Linux surrogate links it statically (surrogate32/CMakeLists.txt).
  if(DLLBRIDGE_PART STREQUAL "surrogate" AND NOT WIN32 AND NOT APPLE AND
     (NOT DEFINED DLLBRIDGE_STATIC_SURROGATE OR DLLBRIDGE_STATIC_SURROGATE))
    find_library(DLLBRIDGE_PROTOBUF_LITE_STATIC NAMES libprotobuf-lite.a)
  endif()
  if(DLLBRIDGE_PROTOBUF_LITE_STATIC)
    target_link_libraries(dllbridge::protobuf_lite INTERFACE ${DLLBRIDGE_PROTOBUF_LITE_STATIC})
  elseif(Protobuf_LITE_LIBRARY)
    target_link_libraries(dllbridge::protobuf_lite INTERFACE ${Protobuf_LITE_LIBRARY})
  else()
    target_link_libraries(dllbridge::protobuf_lite INTERFACE protobuf::libprotobuf-lite)
  endif()
  target_include_directories(dllbridge::protobuf_lite INTERFACE ${Protobuf_INCLUDE_DIRS})
endif()

find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
if(NOT TARGET dllbridge::asio)
  add_library(dllbridge::asio INTERFACE IMPORTED)
  target_include_directories(dllbridge::asio INTERFACE ${ASIO_INCLUDE_DIR})
  target_compile_definitions(dllbridge::asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
  target_link_libraries(dllbridge::asio INTERFACE Threads::Threads)
endif()

find_path(FFI_INCLUDE_DIR ffi.h REQUIRED)
find_library(FFI_LIBRARY ffi REQUIRED)
if(NOT TARGET dllbridge::ffi)
  add_library(dllbridge::ffi INTERFACE IMPORTED)
  target_include_directories(dllbridge::ffi INTERFACE ${FFI_INCLUDE_DIR})
  target_link_libraries(dllbridge::ffi INTERFACE ${FFI_LIBRARY})
endif()

find_package(CLI11 REQUIRED)
if(DLLBRIDGE_PART STREQUAL "all")
  find_package(nlohmann_json REQUIRED)
endif()
