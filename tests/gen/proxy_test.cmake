# gen_proxy (tests/gen/proxy.cmake): installs the build into a scratch
# prefix, generates the sample's proxy project, builds it against the
# installed package (find_package(dllbridge)), builds the test application
# against it, and checks:
#   - the native run (64-bit sample in-process) prints tests/gen/proxy_app.expected;
#   - the proxy run (32-bit sample in surrogate32) prints exactly the same;
#   - the failure path: a missing 32-bit library and a crash give the
#     documented failure value, errno, error text and handler call.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
set(gen_dir ${WORK_DIR}/sample_proxy)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
  set(run_err "${err}" PARENT_SCOPE)
endfunction()

run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
run("generating the proxy" ${GEN} --header ${SOURCE_DIR}/sample-dll/sample.h --library ${SAMPLE32}
    --annotations ${SOURCE_DIR}/sample-dll/sample.annotations --out ${gen_dir})
foreach(f CMakeLists.txt sample_proxy.cpp sample_bridge.hpp sample.sig report.txt)
  if(NOT EXISTS ${gen_dir}/${f})
    message(FATAL_ERROR "the generator did not write ${f}")
  endif()
endforeach()
run("configuring the generated proxy" ${CMAKE_COMMAND} -S ${gen_dir} -B ${gen_dir}/build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=RelWithDebInfo)
run("building the generated proxy" ${CMAKE_COMMAND} --build ${gen_dir}/build)
run("configuring the application against the proxy" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/gen/proxy_app_project
    -B ${WORK_DIR}/app -DSAMPLE_LIBRARY=${gen_dir}/build/libsample.so -DSAMPLE_INCLUDE=${SOURCE_DIR}/sample-dll
    -DAPP_DIR=${SOURCE_DIR}/tests/gen)
run("building the application against the proxy" ${CMAKE_COMMAND} --build ${WORK_DIR}/app)

# The application must really use the proxy: its sample library is the one generated.
run("ldd" ldd ${WORK_DIR}/app/proxy_app)
if(NOT run_out MATCHES "${gen_dir}/build/libsample.so")
  message(FATAL_ERROR "the application does not load the generated proxy:\n${run_out}")
endif()

file(READ ${SOURCE_DIR}/tests/gen/proxy_app.expected expected)
run("the native run" ${NATIVE_APP})
set(native "${run_out}")
if(NOT native STREQUAL expected)
  file(WRITE ${WORK_DIR}/native.txt "${native}")
  message(FATAL_ERROR "the native run differs from tests/gen/proxy_app.expected (got ${WORK_DIR}/native.txt):\n${native}")
endif()
run("the proxy run" ${WORK_DIR}/app/proxy_app)
set(proxied "${run_out}")
if(NOT proxied STREQUAL native)
  file(WRITE ${WORK_DIR}/native.txt "${native}")
  file(WRITE ${WORK_DIR}/proxy.txt "${proxied}")
  execute_process(COMMAND diff ${WORK_DIR}/native.txt ${WORK_DIR}/proxy.txt OUTPUT_VARIABLE d)
  message(FATAL_ERROR "the proxy run differs from the native run:\n${d}\n${run_err}")
endif()
message(STATUS "the proxy run printed the same ${CMAKE_MATCH_COUNT} lines as the native run:\n${proxied}")

# Failure path 1: the 32-bit library is missing (env var); every call fails the same way.
set(ENV{DLLBRIDGE_SAMPLE_LIBRARY} ${WORK_DIR}/no-such-libsample.so)
run("proxy_fail missing" ${WORK_DIR}/app/proxy_fail missing)
unset(ENV{DLLBRIDGE_SAMPLE_LIBRARY})
message(STATUS "proxy_fail missing:\n${run_out}")
foreach(line "before: text -" "add 0 code 79" "text-has-no-such-libsample 1" "handler 1 kind 6 code 79 function add"
             "greeting NULL code 79 handler 2" "point_make 0 0")
  if(NOT run_out MATCHES "${line}")
    message(FATAL_ERROR "proxy_fail missing: no line '${line}' in:\n${run_out}")
  endif()
endforeach()
# Failure path 2: a crash costs one call; the next call works.
run("proxy_fail crash" ${WORK_DIR}/app/proxy_fail crash)
message(STATUS "proxy_fail crash:\n${run_out}")
foreach(line "add 42 pointer_size 4" "crash_segv 0 code 104" "text-has-crash 1" "handler 1 kind 1 code 104 function crash_segv"
             "after: add 42 handler 1")
  if(NOT run_out MATCHES "${line}")
    message(FATAL_ERROR "proxy_fail crash: no line '${line}' in:\n${run_out}")
  endif()
endforeach()

# What the back end cannot carry is listed, not silently wrong.
file(READ ${gen_dir}/report.txt report)
if(NOT report MATCHES "ops_apply: struct sample_ops, field map: a function pointer field")
  message(FATAL_ERROR "report.txt does not list ops_apply as left out:\n${report}")
endif()
