# The Debian package (scripts/package runs cpack): the binary, ksid-control, the systemd units, the ksid
# system user (sysusers.d, or useradd in postinst) and /etc/ksid/api_shim.yaml as a conffile. Installed
# with prefix /usr; the system units and /etc are absolute destinations.
set(KSID_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})

install(TARGETS ksid RUNTIME DESTINATION bin)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/ksid-control DESTINATION bin)
install(FILES ${KSID_PACKAGING_DIR}/systemd/ksid.service ${KSID_PACKAGING_DIR}/systemd/ksid.socket
        DESTINATION /lib/systemd/system)
install(FILES ${KSID_PACKAGING_DIR}/systemd/user/ksid.service DESTINATION lib/systemd/user)
install(FILES ${KSID_PACKAGING_DIR}/systemd/ksid.sysusers DESTINATION lib/sysusers.d RENAME ksid.conf)
install(FILES ${PROJECT_SOURCE_DIR}/config/api_shim.yaml DESTINATION /etc/ksid)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/ksid)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ksid)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "KSI daemon: the legacy JSON-lines socket and an OpenAI/Anthropic HTTP facade in front of claude")
set(CPACK_PACKAGE_CONTACT "ksid maintainers <ksid@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
# The shared libraries the binary really links, from dpkg-shlibdeps (dpkg-dev, and file for CPack to find
# the ELF files); without them, the Debian 12 names of what it links.
find_program(KSID_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(KSID_FILE file)
if(KSID_DPKG_SHLIBDEPS AND KSID_FILE)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libboost-json1.81.0, libboost-url1.81.0, libyaml-cpp0.7, libspdlog1.10-fmt9, libfmt9, libssl3, libsqlite3-0, libhiredis0.14, libc6, libstdc++6")
endif()
file(WRITE ${PROJECT_BINARY_DIR}/debian-control/conffiles "/etc/ksid/api_shim.yaml\n")
file(COPY ${KSID_PACKAGING_DIR}/debian/postinst ${KSID_PACKAGING_DIR}/debian/prerm ${KSID_PACKAGING_DIR}/debian/postrm
     DESTINATION ${PROJECT_BINARY_DIR}/debian-control)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_BINARY_DIR}/debian-control/conffiles ${PROJECT_BINARY_DIR}/debian-control/postinst
    ${PROJECT_BINARY_DIR}/debian-control/prerm ${PROJECT_BINARY_DIR}/debian-control/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
