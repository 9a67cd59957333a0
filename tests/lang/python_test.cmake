# The Python module's tests (python/) with pytest against the installed
# package and the real 32-bit sample library. The module finds the C library
# as a user's would: DLLBRIDGE_LIBRARY is unset, pkg-config finds dllbridge.pc
# (PKG_CONFIG_PATH = the scratch prefix's lib/pkgconfig).
#   PYTHON      Debian's python3 with python3-pytest (/usr/bin/python3)
#   SOURCE_DIR, BUILD_DIR, WORK_DIR, SAMPLE as in go_test.cmake
execute_process(COMMAND ${PYTHON} -m pytest --version RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(rc)
  message(FATAL_ERROR "python_package cannot run: '${PYTHON} -m pytest' does not work (install python3-pytest: scripts/setup.sh)")
endif()
include(${CMAKE_CURRENT_LIST_DIR}/install_prefix.cmake)
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env --unset=DLLBRIDGE_LIBRARY PKG_CONFIG_PATH=${pkgconfig}
          DLLBRIDGE_SAMPLE32=${SAMPLE} PYTHONDONTWRITEBYTECODE=1
          ${PYTHON} -m pytest -p no:cacheprovider -v ${SOURCE_DIR}/python/tests
  WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "pytest failed: ${rc}")
endif()
