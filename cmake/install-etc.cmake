# Runs at install time (see docs.cmake): the paths that depend on the final
# prefix.  file(INSTALL) adds $DESTDIR itself.
if(NOT SLUICE_ETC AND DEFINED ENV{SLUICE_SYSCONFDIR})
  set(SLUICE_ETC "$ENV{SLUICE_SYSCONFDIR}")
endif()
if(NOT SLUICE_ETC)
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(SLUICE_ETC /etc)
  else()
    set(SLUICE_ETC "${CMAKE_INSTALL_PREFIX}/etc")
  endif()
endif()
if(NOT IS_ABSOLUTE "${SLUICE_UNITDIR}")
  set(SLUICE_UNITDIR "${CMAKE_INSTALL_PREFIX}/${SLUICE_UNITDIR}")
endif()
set(SLUICE_BIN "${CMAKE_INSTALL_PREFIX}/${SLUICE_BINDIR}")
set(SLUICE_DOC "${CMAKE_INSTALL_PREFIX}/${SLUICE_DOCDIR}")

configure_file("${SLUICE_SRC}/systemd/sluice@.service.in" "${SLUICE_GEN}/sluice@.service" @ONLY)
file(INSTALL "${SLUICE_GEN}/sluice@.service" DESTINATION "${SLUICE_UNITDIR}")
file(INSTALL "${SLUICE_SRC}/examples/service.yaml" DESTINATION "${SLUICE_ETC}/sluice"
  RENAME example.yaml)
