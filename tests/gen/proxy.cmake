# dllbridge-gen end to end (docs/proxy.md): the proxy library dllbridge-gen
# generates for the 32-bit sample, built against the installed package,
# runs tests/gen/proxy_app.c (written against sample.h alone) with the same
# output as the native 64-bit sample library. Included from tests/CMakeLists.txt.
# Linux: gen_proxy. Windows (build-win, under Wine): gen_proxy_windows, with
# the Linux build's dllbridge-gen (DLLBRIDGE_GEN).

# The application linked against the native 64-bit sample: the reference run.
add_executable(proxy_app_native ${CMAKE_CURRENT_LIST_DIR}/proxy_app.c)
set_target_properties(proxy_app_native PROPERTIES C_STANDARD 11)
target_link_libraries(proxy_app_native PRIVATE sample)

# write_project from Models built by hand (the generator runs on Linux only).
if(NOT CMAKE_CROSSCOMPILING)
  add_executable(proxy_emit_tests ${CMAKE_CURRENT_LIST_DIR}/proxy_emit_test.cpp
                 ${PROJECT_SOURCE_DIR}/bridge-client/tools/gen/emit_project.cpp)
  target_include_directories(proxy_emit_tests PRIVATE ${PROJECT_SOURCE_DIR}/bridge-client/tools/gen)
  target_link_libraries(proxy_emit_tests PRIVATE dllbridge_client_objects GTest::gtest_main)
  target_compile_definitions(proxy_emit_tests PRIVATE DLLBRIDGE_STATIC)
  gtest_discover_tests(proxy_emit_tests DISCOVERY_MODE PRE_TEST)
endif()

set(_proxy_test_args
  -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
  -DBUILD_DIR=${PROJECT_BINARY_DIR}
  -DSAMPLE32=${DLLBRIDGE_SAMPLE32}
  -DNATIVE_APP=$<TARGET_FILE:proxy_app_native>)
# Reported as skipped, with the reason, where they cannot mean anything (as
# package_consumer and the language packages are).
if(CMAKE_CROSSCOMPILING AND WIN32)
  set(_proxy_test gen_proxy_windows)
else()
  set(_proxy_test gen_proxy)
endif()
if(NOT DLLBRIDGE_HAVE_32 OR DLLBRIDGE_SANITIZE)
  if(NOT DLLBRIDGE_HAVE_32)
    set(_why "the proxy forwards to surrogate32 and this build has no 32-bit part (DLLBRIDGE_BUILD_32BIT=OFF)")
  else()
    set(_why "it builds the proxy and the application with the plain toolchain, which cannot link the sanitized library; the plain build runs it")
  endif()
  dllbridge_skipped_test(${_proxy_test}
    "${_why}")
elseif(NOT CMAKE_CROSSCOMPILING)
  add_test(NAME gen_proxy
    COMMAND ${CMAKE_COMMAND} ${_proxy_test_args}
      -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/gen_proxy
      -DGEN=$<TARGET_FILE:dllbridge-gen>
      -DCC=${CMAKE_C_COMPILER}
      "-DCC32=${CMAKE_C_COMPILER}\;-m32"
      -P ${CMAKE_CURRENT_LIST_DIR}/proxy_test.cmake)
  set_tests_properties(gen_proxy PROPERTIES TIMEOUT 600)
elseif(WIN32)
  set(DLLBRIDGE_GEN ${PROJECT_SOURCE_DIR}/build/bin/dllbridge-gen CACHE FILEPATH
      "The Linux build's dllbridge-gen, for gen_proxy_windows ($DLLBRIDGE_BUILD_DIR/bin/dllbridge-gen when set)")
  find_program(DLLBRIDGE_MINGW32_CC NAMES i686-w64-mingw32-gcc-posix i686-w64-mingw32-gcc REQUIRED)
  add_test(NAME gen_proxy_windows
    COMMAND ${CMAKE_COMMAND} ${_proxy_test_args}
      -DWINDOWS=ON
      -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/gen_proxy_windows
      -DGEN=${DLLBRIDGE_GEN}
      -DSAMPLE32_WINDOWS=${_fake_drive}${DLLBRIDGE_SAMPLE32}
      -DTOOLCHAIN=${CMAKE_TOOLCHAIN_FILE}
      -DCC=${CMAKE_C_COMPILER}
      -DCC32=${DLLBRIDGE_MINGW32_CC}
      -DWINE=${CMAKE_CROSSCOMPILING_EMULATOR}
      -P ${CMAKE_CURRENT_LIST_DIR}/proxy_test.cmake)
  set_tests_properties(gen_proxy_windows PROPERTIES TIMEOUT 900)
endif()
