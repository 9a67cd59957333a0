# dllbridge-gen's back end end to end (docs/proxy.md): the generated proxy
# library of the sample, built against the installed package, runs the same
# application as the native 64-bit sample library, with the same output.
# Included from tests/CMakeLists.txt.

# Until the front end (dllbridge-gen) reads headers: the Model from
# signature-language declarations, written by write_project.
add_executable(proxy_model ${CMAKE_CURRENT_LIST_DIR}/proxy_model.cpp
               ${PROJECT_SOURCE_DIR}/bridge-client/tools/gen/emit_project.cpp)
target_include_directories(proxy_model PRIVATE ${PROJECT_SOURCE_DIR}/bridge-client/tools/gen)
target_link_libraries(proxy_model PRIVATE dllbridge_client_objects)
target_compile_definitions(proxy_model PRIVATE DLLBRIDGE_STATIC)

# The application linked against the native 64-bit sample: the reference run.
add_executable(proxy_app_native ${CMAKE_CURRENT_LIST_DIR}/proxy_app.c)
set_target_properties(proxy_app_native PROPERTIES C_STANDARD 11)
target_link_libraries(proxy_app_native PRIVATE sample)

if(NOT CMAKE_CROSSCOMPILING AND NOT DLLBRIDGE_HAVE_32)
  add_test(NAME gen_proxy COMMAND ${CMAKE_COMMAND} -E echo
    "gen_proxy cannot run: it forwards to surrogate32 and this build has no 32-bit part (DLLBRIDGE_BUILD_32BIT=OFF)")
  set_tests_properties(gen_proxy PROPERTIES WILL_FAIL ON)
elseif(NOT CMAKE_CROSSCOMPILING)
  add_test(NAME gen_proxy
    COMMAND ${CMAKE_COMMAND}
      -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
      -DBUILD_DIR=${PROJECT_BINARY_DIR}
      -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/gen_proxy
      -DGEN=$<TARGET_FILE:dllbridge-gen>
      -DNATIVE_APP=$<TARGET_FILE:proxy_app_native>
      -DSAMPLE32=${DLLBRIDGE_SAMPLE32}
      -P ${CMAKE_CURRENT_LIST_DIR}/proxy_test.cmake)
  set_tests_properties(gen_proxy PROPERTIES TIMEOUT 600)
endif()
