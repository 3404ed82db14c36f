# The Debian package (CPack's DEB generator), built by scripts/package.sh; docs/packaging.md says
# what it installs and how to run the service. The install rules exist for the package: the unit
# and the config go to the absolute paths Debian expects whatever the prefix.
set(pgdual_package_dir ${CMAKE_CURRENT_LIST_DIR})

install(TARGETS pgdual RUNTIME DESTINATION bin)
install(FILES ${pgdual_package_dir}/pgdual.service DESTINATION /lib/systemd/system)
install(FILES ${pgdual_package_dir}/pgdual.toml DESTINATION /etc/pgdual)
install(FILES
    ${PROJECT_SOURCE_DIR}/README.md
    ${PROJECT_SOURCE_DIR}/config/pgdual.example.toml
    ${PROJECT_SOURCE_DIR}/config/pgdual.minimal.toml
  DESTINATION share/doc/pgdual)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION share/doc/pgdual/docs FILES_MATCHING PATTERN "*.md")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pgdual)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "pgdual maintainers <pgdual@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL wire-protocol proxy for live database migration")
set(CPACK_PACKAGE_DESCRIPTION "pgdual sits between applications and two PostgreSQL servers while a
database migrates from one to the other: every write reaches both, reads move by a share the
operators raise, and every disagreement is recorded for review and repair.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # pgdual_0.1.0_amd64.deb
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
# The shared libraries' packages (libpq5, libspdlog1.10, libssl3, libpg-query0...) come from
# dpkg-shlibdeps; the maintainer scripts need adduser, the unit's ExecReload /bin/kill (procps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${pgdual_package_dir}/conffiles
  ${pgdual_package_dir}/postinst
  ${pgdual_package_dir}/prerm
  ${pgdual_package_dir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
