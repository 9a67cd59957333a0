# gen_proxy / gen_proxy_windows (tests/gen/proxy.cmake): installs the build
# into a scratch prefix, runs dllbridge-gen over sample.h and
# sample.annotations, builds the generated proxy project against the
# installed package (find_package(dllbridge)), builds the test application
# against the proxy, and checks:
#   - the native run (64-bit sample in-process) prints proxy_app.expected
#     (proxy_app.windows.expected under Wine);
#   - the proxy run (the 32-bit sample in surrogate32) prints the same;
#   - the failure path: a missing 32-bit library, a crash and a timeout give the
#     documented failure value, last error, error text and handler call;
#   - report.txt lists what the back end left out;
#   - tests/gen/proxy_mirror.h (anonymous members, long / size_t / void*
#     fields: structs described through mirrors) gives the same output
#     natively and through its proxy (proxy_mirror.expected).
# The 32-bit library is named by sample.dllbridge beside the proxy (the
# --library copy given at generation is removed). Windows (-DWINDOWS=ON):
# cross-built with TOOLCHAIN, run through WINE.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
set(gen_dir ${WORK_DIR}/sample_proxy)
set(app_dir ${WORK_DIR}/app)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  string(REPLACE "\r\n" "\n" out "${out}")
  set(run_out "${out}" PARENT_SCOPE)
  set(run_err "${err}" PARENT_SCOPE)
endfunction()

if(WINDOWS)
  # dllbridge-gen is a Linux program: the Linux build's (scripts/test.sh builds it first).
  if(DEFINED ENV{DLLBRIDGE_BUILD_DIR})
    set(GEN $ENV{DLLBRIDGE_BUILD_DIR}/bin/dllbridge-gen)
  endif()
  if(NOT EXISTS ${GEN})
    message(FATAL_ERROR "gen_proxy_windows needs the Linux build's dllbridge-gen (${GEN}): "
                        "run scripts/build.sh first, or set DLLBRIDGE_BUILD_DIR")
  endif()
  set(cross -DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN} -Ddllbridge_DIR=${prefix}/lib/cmake/dllbridge)
  set(target windows)
  set(proxy_file ${gen_dir}/build/sample.dll)
  set(implib -DSAMPLE_IMPLIB=${gen_dir}/build/libsample.dll.a)
  set(exe .exe)
  set(expected_file ${SOURCE_DIR}/tests/gen/proxy_app.windows.expected)
  set(launch ${WINE})
  # The application's folder gets the proxy sample.dll (a drop-in); the
  # client library and surrogate32.exe stay in the package's bin folder.
  set(ENV{WINEPATH} ${prefix}/bin)
  # codes: library_load_failed ERROR_MOD_NOT_FOUND, crashed ERROR_PROCESS_ABORTED
  set(load_code 126)
  set(crash_code 1067)
  set(timeout_code 1460)
else()
  set(cross -DCMAKE_PREFIX_PATH=${prefix})
  set(target linux)
  set(proxy_file ${gen_dir}/build/libsample.so)
  set(implib)
  set(exe)
  set(expected_file ${SOURCE_DIR}/tests/gen/proxy_app.expected)
  set(launch)
  # codes: library_load_failed ELIBACC, crashed ECONNRESET
  set(load_code 79)
  set(crash_code 104)
  set(timeout_code 110)
endif()

run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
# Generated from a copy of the 32-bit library that is gone when the proxy
# runs: the proxy must find the real one through NAME.dllbridge beside it.
get_filename_component(sample32_name ${SAMPLE32} NAME)
file(COPY ${SAMPLE32} DESTINATION ${WORK_DIR}/at-generation)
run("dllbridge-gen" ${GEN} --header ${SOURCE_DIR}/sample-dll/sample.h --library ${WORK_DIR}/at-generation/${sample32_name}
    --annotations ${SOURCE_DIR}/sample-dll/sample.annotations --target ${target} --out ${gen_dir})
foreach(f CMakeLists.txt sample_proxy.cpp sample_bridge.hpp sample.sig report.txt)
  if(NOT EXISTS ${gen_dir}/${f})
    message(FATAL_ERROR "dllbridge-gen did not write ${f}")
  endif()
endforeach()
run("configuring the generated proxy" ${CMAKE_COMMAND} -S ${gen_dir} -B ${gen_dir}/build ${cross}
    -DCMAKE_BUILD_TYPE=RelWithDebInfo)
run("building the generated proxy" ${CMAKE_COMMAND} --build ${gen_dir}/build)
run("configuring the application against the proxy" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/gen/proxy_app_project
    -B ${app_dir} ${cross} -DSAMPLE_LIBRARY=${proxy_file} ${implib} -DSAMPLE_INCLUDE=${SOURCE_DIR}/sample-dll
    -DAPP_DIR=${SOURCE_DIR}/tests/gen)
run("building the application against the proxy" ${CMAKE_COMMAND} --build ${app_dir})

file(REMOVE_RECURSE ${WORK_DIR}/at-generation)
if(WINDOWS)
  file(COPY ${proxy_file} DESTINATION ${app_dir})
  file(WRITE ${app_dir}/sample.dllbridge "${SAMPLE32_WINDOWS}\n")
  run("objdump" x86_64-w64-mingw32-objdump -p ${app_dir}/proxy_app.exe)
  if(NOT run_out MATCHES "DLL Name: sample.dll")
    message(FATAL_ERROR "proxy_app.exe does not import sample.dll:\n${run_out}")
  endif()
else()
  file(WRITE ${gen_dir}/build/sample.dllbridge "${SAMPLE32}\n")
  # The application must load the generated proxy.
  run("ldd" ldd ${app_dir}/proxy_app)
  if(NOT run_out MATCHES "${proxy_file}")
    message(FATAL_ERROR "the application does not load the generated proxy:\n${run_out}")
  endif()
endif()

file(READ ${expected_file} expected)
run("the native run" ${launch} ${NATIVE_APP})
set(native "${run_out}")
if(NOT native STREQUAL expected)
  file(WRITE ${WORK_DIR}/native.txt "${native}")
  message(FATAL_ERROR "the native run differs from ${expected_file} (got ${WORK_DIR}/native.txt):\n${native}")
endif()
run("the proxy run" ${launch} ${app_dir}/proxy_app${exe})
set(proxied "${run_out}")
if(NOT proxied STREQUAL native)
  file(WRITE ${WORK_DIR}/native.txt "${native}")
  file(WRITE ${WORK_DIR}/proxy.txt "${proxied}")
  execute_process(COMMAND diff ${WORK_DIR}/native.txt ${WORK_DIR}/proxy.txt OUTPUT_VARIABLE d)
  message(FATAL_ERROR "the proxy run differs from the native run:\n${d}\n${run_err}")
endif()
message(STATUS "the proxy run printed what the native run did:\n${proxied}")

# The first calls from 8 threads at once: one bridge, every result right.
run("proxy_fail threads" ${launch} ${app_dir}/proxy_fail${exe} threads)
if(NOT run_out MATCHES "threads 8 calls 400 right 400 text -")
  message(FATAL_ERROR "proxy_fail threads:\n${run_out}")
endif()

# Failure path 1: the 32-bit library is missing (the env var names a file
# that does not exist); each call fails the same way.
set(ENV{DLLBRIDGE_SAMPLE_LIBRARY} ${WORK_DIR}/no-such-libsample)
run("proxy_fail missing" ${launch} ${app_dir}/proxy_fail${exe} missing)
unset(ENV{DLLBRIDGE_SAMPLE_LIBRARY})
message(STATUS "proxy_fail missing:\n${run_out}")
foreach(line "before: text -" "add 0 code ${load_code}\n" "text-has-no-such-libsample 1"
             "handler 1 kind 6 code ${load_code} function add\n" "greeting NULL code ${load_code} handler 2"
             "point_make 0 0")
  if(NOT run_out MATCHES "${line}")
    message(FATAL_ERROR "proxy_fail missing: no line '${line}' in:\n${run_out}")
  endif()
endforeach()
# Failure path 2: a crash costs one call; the next call works.
run("proxy_fail crash" ${launch} ${app_dir}/proxy_fail${exe} crash)
message(STATUS "proxy_fail crash:\n${run_out}")
foreach(line "add 42 pointer_size 4" "crash_segv 0 code ${crash_code}\n" "text-has-crash_segv: 1"
             "handler 1 kind 1 code ${crash_code} function crash_segv" "after: add 42 handler 1")
  if(NOT run_out MATCHES "${line}")
    message(FATAL_ERROR "proxy_fail crash: no line '${line}' in:\n${run_out}")
  endif()
endforeach()

# Failure path 3: a call past its deadline ($DLLBRIDGE_SAMPLE_TIMEOUT_MS); the next call works.
# Long enough for the next call to wait for the restart on a loaded machine (or under Wine);
# hang_forever never returns, so it passes this deadline whatever it is.
set(ENV{DLLBRIDGE_SAMPLE_TIMEOUT_MS} 3000)
run("proxy_fail timeout" ${launch} ${app_dir}/proxy_fail${exe} timeout)
unset(ENV{DLLBRIDGE_SAMPLE_TIMEOUT_MS})
message(STATUS "proxy_fail timeout:\n${run_out}")
foreach(line "add 42" "hang_forever 0 code ${timeout_code}\n" "text-has-hang_forever: 1"
             "handler 1 kind 0 code ${timeout_code} function hang_forever" "after: add 42 handler 1")
  if(NOT run_out MATCHES "${line}")
    message(FATAL_ERROR "proxy_fail timeout: no line '${line}' in:\n${run_out}")
  endif()
endforeach()

# A struct with a function pointer (ops_apply) is carried, not left out:
# its mirror holds a dllbridge::Fn, and the proxy converts it (the app's
# ops_apply line above went through it).
file(READ ${gen_dir}/report.txt report)
if(report MATCHES "ops_apply:")
  message(FATAL_ERROR "report.txt lists ops_apply as left out:\n${report}")
endif()

# Mirrors: proxy_mirror.c built for both bitnesses (CC, CC32), its proxy
# generated and built as above, proxy_mirror_app.c run against each.
set(mdir ${WORK_DIR}/mirror)
file(MAKE_DIRECTORY ${mdir}/lib32 ${mdir}/lib64 ${mdir}/app)
set(msrc ${SOURCE_DIR}/tests/gen/proxy_mirror.c)
set(mapp ${SOURCE_DIR}/tests/gen/proxy_mirror_app.c)
if(WINDOWS)
  run("the 32-bit mirror.dll" ${CC32} -shared -o ${mdir}/lib32/mirror.dll ${msrc})
  run("the 64-bit mirror.dll" ${CC} -shared -o ${mdir}/lib64/mirror.dll ${msrc}
      -Wl,--out-implib,${mdir}/lib64/libmirror.dll.a)
  set(mlib32 ${mdir}/lib32/mirror.dll)
else()
  run("the 32-bit libmirror.so" ${CC32} -shared -fPIC -o ${mdir}/lib32/libmirror.so ${msrc})
  run("the 64-bit libmirror.so" ${CC} -shared -fPIC -o ${mdir}/lib64/libmirror.so ${msrc})
  set(mlib32 ${mdir}/lib32/libmirror.so)
endif()
run("dllbridge-gen (mirror)" ${GEN} --header ${SOURCE_DIR}/tests/gen/proxy_mirror.h --library ${mlib32}
    --annotations ${SOURCE_DIR}/tests/gen/proxy_mirror.annotations --target ${target} --out ${mdir}/gen)
run("configuring the mirror proxy" ${CMAKE_COMMAND} -S ${mdir}/gen -B ${mdir}/gen/build ${cross})
run("building the mirror proxy" ${CMAKE_COMMAND} --build ${mdir}/gen/build)
if(WINDOWS)
  run("the native mirror app" ${CC} -o ${mdir}/lib64/app.exe ${mapp} -I${SOURCE_DIR}/tests/gen
      ${mdir}/lib64/libmirror.dll.a)
  run("the proxy mirror app" ${CC} -o ${mdir}/app/app.exe ${mapp} -I${SOURCE_DIR}/tests/gen
      ${mdir}/gen/build/libmirror.dll.a)
  file(COPY ${mdir}/gen/build/mirror.dll DESTINATION ${mdir}/app)
  file(WRITE ${mdir}/app/mirror.dllbridge "Z:${mlib32}\n")
  set(mnative ${WINE} ${mdir}/lib64/app.exe)
  set(mproxy ${WINE} ${mdir}/app/app.exe)
else()
  run("the native mirror app" ${CC} -o ${mdir}/lib64/app ${mapp} -I${SOURCE_DIR}/tests/gen -L${mdir}/lib64
      -lmirror -Wl,-rpath,${mdir}/lib64)
  run("the proxy mirror app" ${CC} -o ${mdir}/app/app ${mapp} -I${SOURCE_DIR}/tests/gen -L${mdir}/gen/build
      -lmirror -Wl,-rpath,${mdir}/gen/build)
  set(mnative ${mdir}/lib64/app)
  set(mproxy ${mdir}/app/app)
endif()
file(READ ${SOURCE_DIR}/tests/gen/proxy_mirror.expected mexpected)
run("the native mirror run" ${mnative})
if(NOT run_out STREQUAL mexpected)
  message(FATAL_ERROR "the native mirror run differs from proxy_mirror.expected:\n${run_out}")
endif()
run("the proxy mirror run" ${mproxy})
if(NOT run_out STREQUAL mexpected)
  message(FATAL_ERROR "the proxy mirror run differs from the native one:\n${run_out}\n${run_err}")
endif()
message(STATUS "the mirror proxy printed what the native library did:\n${run_out}")
