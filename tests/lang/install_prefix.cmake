# Included by go_test.cmake and python_test.cmake: installs the build
# BUILD_DIR into WORK_DIR/prefix (emptied first), as a user would with
# `cmake --install build --prefix PREFIX`, and sets `prefix` and `pkgconfig`
# (the directory of the installed dllbridge.pc).
file(REMOVE_RECURSE ${WORK_DIR}/prefix)
set(prefix ${WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix}
                OUTPUT_QUIET RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${prefix} failed: ${rc}")
endif()
file(GLOB_RECURSE _pc ${prefix}/dllbridge.pc)
if(NOT _pc)
  message(FATAL_ERROR "the installed package has no dllbridge.pc under ${prefix}: the C API's pkg-config file is missing")
endif()
list(GET _pc 0 _pc)
get_filename_component(pkgconfig ${_pc} DIRECTORY)
