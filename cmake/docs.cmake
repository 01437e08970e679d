# Man pages, bash completion, systemd units and what `make install` puts
# where.
#
# The pages and the completion are made from man/ and completion/: the URL
# option lists from man/options.txt, the subcommands, options and schemes
# from what the built binary prints (sluice --help, help --schemas).
#
# Paths follow the prefix given at install time (cmake --install --prefix,
# make install PREFIX=...), so one build installs anywhere.  The
# configuration directory is /etc for the prefix /usr and PREFIX/etc
# otherwise, unless SLUICE_SYSCONFDIR (or the environment variable of that
# name at install time) says where; the unit file is written at install
# time with the final paths of the binary and the configuration.
include(GNUInstallDirs)

option(SLUICE_MAN "Build and install the man pages (needs scdoc)" ON)
set(SLUICE_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
  "systemd system units: relative to the prefix, or absolute")
set(SLUICE_SYSCONFDIR "" CACHE STRING
  "configuration directory (empty: /etc for the prefix /usr, else PREFIX/etc)")

set(SLUICE_GEN ${CMAKE_BINARY_DIR}/gen)
file(MAKE_DIRECTORY ${SLUICE_GEN})
set(gen_sh ${PROJECT_SOURCE_DIR}/man/gen.sh)
set(gen_deps ${gen_sh} ${PROJECT_SOURCE_DIR}/man/gen-options.awk ${PROJECT_SOURCE_DIR}/man/options.txt)

add_custom_command(OUTPUT ${SLUICE_GEN}/sluice.bash
  COMMAND sh ${gen_sh} bash ${PROJECT_SOURCE_DIR}/completion/sluice.bash.in ${SLUICE_GEN}/sluice.bash
    $<TARGET_FILE:sluice>
  DEPENDS ${gen_deps} ${PROJECT_SOURCE_DIR}/completion/sluice.bash.in sluice
  COMMENT "bash completion from man/options.txt" VERBATIM)
set(doc_outputs ${SLUICE_GEN}/sluice.bash)

if(SLUICE_MAN)
  find_program(SCDOC scdoc)
  if(NOT SCDOC)
    message(FATAL_ERROR "scdoc not found: apt-get install scdoc (or scripts/deps.sh build), "
      "or configure with -DSLUICE_MAN=OFF to build without man pages")
  endif()
  foreach(page sluice.1 sluice.yaml.5)
    add_custom_command(OUTPUT ${SLUICE_GEN}/${page}
      COMMAND sh ${gen_sh} man ${PROJECT_SOURCE_DIR}/man/${page}.scd ${SLUICE_GEN}/${page}
        $<TARGET_FILE:sluice> ${SCDOC}
      DEPENDS ${gen_deps} ${PROJECT_SOURCE_DIR}/man/${page}.scd sluice
      COMMENT "man page ${page}" VERBATIM)
    list(APPEND doc_outputs ${SLUICE_GEN}/${page})
  endforeach()
endif()
add_custom_target(sluice-docs ALL DEPENDS ${doc_outputs})

install(TARGETS sluice RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(SLUICE_MAN)
  install(FILES ${SLUICE_GEN}/sluice.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  install(FILES ${SLUICE_GEN}/sluice.yaml.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
endif()
install(FILES ${SLUICE_GEN}/sluice.bash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME sluice)
install(FILES systemd/sluice.sysusers DESTINATION lib/sysusers.d RENAME sluice.conf)
install(FILES README.md sluice.example.yaml DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
install(FILES examples/ppp-gateway.yaml examples/sstp-client.yaml examples/split-tunnel.yaml
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES systemd/tun.conf systemd/sctp-raw.conf systemd/serial.conf
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/systemd)
install(CODE "set(SLUICE_SRC \"${PROJECT_SOURCE_DIR}\")
set(SLUICE_GEN \"${SLUICE_GEN}\")
set(SLUICE_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
set(SLUICE_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
set(SLUICE_UNITDIR \"${SLUICE_SYSTEMD_UNITDIR}\")
set(SLUICE_ETC \"${SLUICE_SYSCONFDIR}\")")
install(SCRIPT cmake/install-etc.cmake)
