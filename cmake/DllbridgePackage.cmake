# The installable CMake package: find_package(dllbridge) gives dllbridge::client;
# and dllbridge.pc for pkg-config (C programs, cgo's `#cgo pkg-config: dllbridge`).
include(CMakePackageConfigHelpers)
install(EXPORT dllbridgeTargets NAMESPACE dllbridge::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dllbridge)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/dllbridgeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/dllbridgeConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dllbridge
  PATH_VARS CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/dllbridgeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/dllbridgeConfig.cmake
              ${PROJECT_BINARY_DIR}/dllbridgeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dllbridge)

# dllbridge.pc, relocatable: every path relative to ${pcfiledir} (absolute
# install dirs stay absolute).
set(_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH DLLBRIDGE_PC_TO_PREFIX /root/${_pc_dir} /root)
string(REGEX REPLACE "/$" "" DLLBRIDGE_PC_TO_PREFIX "${DLLBRIDGE_PC_TO_PREFIX}")
foreach(_dir LIBDIR INCLUDEDIR BINDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(DLLBRIDGE_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(DLLBRIDGE_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/dllbridge.pc.in ${PROJECT_BINARY_DIR}/dllbridge.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/dllbridge.pc DESTINATION ${_pc_dir})
