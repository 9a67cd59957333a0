# The installable CMake package: find_package(dllbridge) gives dllbridge::client.
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
