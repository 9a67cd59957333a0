# The Go package's tests (go/) against the installed package and the real
# 32-bit sample library, as a Go user builds it: cgo finds the C API with
# pkg-config (PKG_CONFIG_PATH = the scratch prefix's lib/pkgconfig).
#   GO          the go command (fails loudly when not found)
#   SOURCE_DIR  the repository; BUILD_DIR the build to install; WORK_DIR scratch
#   SAMPLE      the 32-bit sample library, as the test program sees it
#   PLATFORM    linux, or windows: cross-build the test program with MinGW-w64
#               (CC) and run it under Wine (WINE = scripts/wine.sh)
#   CACHE_DIR   GOCACHE / GOPATH live here (kept between runs, under the build)
if(NOT GO)
  message(FATAL_ERROR "go_package cannot run: no 'go' command was found (install golang-go: scripts/setup.sh)")
endif()
include(${CMAKE_CURRENT_LIST_DIR}/install_prefix.cmake)

# Offline and independent of the user's Go settings: no module downloads,
# caches under the build directory.
set(goenv GOENV=off GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on GOTELEMETRY=off
    GOCACHE=${CACHE_DIR}/gocache GOPATH=${CACHE_DIR}/gopath GOTMPDIR=${WORK_DIR}
    PKG_CONFIG_PATH=${pkgconfig} CGO_ENABLED=1 DLLBRIDGE_SAMPLE32=${SAMPLE})
file(MAKE_DIRECTORY ${CACHE_DIR}/gocache ${CACHE_DIR}/gopath)

if(PLATFORM STREQUAL "windows")
  set(exe ${WORK_DIR}/dllbridge.test.exe)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env ${goenv} GOOS=windows GOARCH=amd64 CC=${CC}
            ${GO} test -c -o ${exe} .
    WORKING_DIRECTORY ${SOURCE_DIR}/go RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "cross-building the Go tests for windows/amd64 with ${CC} failed: ${rc}")
  endif()
  # The C API's DLL and the surrogates are in the prefix's bin/: on PATH for Wine.
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env "WINEPATH=Z:${prefix}/bin" DLLBRIDGE_SAMPLE32=${SAMPLE}
            ${WINE} ${exe} -test.v -test.count=1 -test.bench=. -test.benchtime=100x
    WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
else()
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env ${goenv} LD_LIBRARY_PATH=${prefix}/lib
            ${GO} test -v -count=1 -bench=. -benchtime=100x .
    WORKING_DIRECTORY ${SOURCE_DIR}/go RESULT_VARIABLE rc)
endif()
if(rc)
  message(FATAL_ERROR "go test failed: ${rc}")
endif()
