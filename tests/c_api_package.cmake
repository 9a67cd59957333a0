# Installs the build into a scratch prefix, then builds tests/c_api_program.c
# as a C user does, `cc -std=c99 prog.c $(pkg-config --cflags --libs
# dllbridge)` with PKG_CONFIG_PATH at the prefix, and runs it against the
# 32-bit sample library.
# -DSOURCE_DIR -DBUILD_DIR -DWORK_DIR -DSAMPLE -DCC
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} RESULT_VARIABLE rc
                OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
find_program(PKG_CONFIG pkg-config)
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "pkg-config is not installed (scripts/setup.sh installs it)")
endif()
file(GLOB_RECURSE pc_files ${prefix}/*/dllbridge.pc)
if(NOT pc_files)
  message(FATAL_ERROR "the installed package has no dllbridge.pc")
endif()
list(GET pc_files 0 pc_file)
get_filename_component(pc_dir ${pc_file} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs dllbridge RESULT_VARIABLE rc OUTPUT_VARIABLE flags
                ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
if(rc)
  message(FATAL_ERROR "pkg-config --cflags --libs dllbridge failed: ${err}")
endif()
execute_process(COMMAND ${PKG_CONFIG} --variable=libdir dllbridge OUTPUT_VARIABLE libdir
                OUTPUT_STRIP_TRAILING_WHITESPACE)
message(STATUS "pkg-config --cflags --libs dllbridge: ${flags}")
# The flags point into the prefix (the .pc is relocatable), not at the build tree.
if(NOT flags MATCHES "-I${prefix}/" OR NOT flags MATCHES "-L${prefix}/" OR NOT flags MATCHES "-ldllbridge_client")
  message(FATAL_ERROR "pkg-config's flags do not point into the installed prefix ${prefix}: ${flags}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND ${CC} -std=c99 -Wall -Wextra -Werror -pedantic ${SOURCE_DIR}/tests/c_api_program.c
                        ${flags} -lpthread -Wl,-rpath,${libdir} -o ${WORK_DIR}/c_api_program
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "building c_api_program failed: ${out}${err}")
endif()
execute_process(COMMAND ${WORK_DIR}/c_api_program ${SAMPLE} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
message(STATUS "c_api_program said: ${out}${err}")
if(rc OR NOT out MATCHES "every check passed")
  message(FATAL_ERROR "c_api_program failed (${rc})")
endif()
