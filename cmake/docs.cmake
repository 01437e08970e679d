# Man pages and bash completion, made from man/ and completion/ (the
# option lists come from man/options.txt).
option(SLUICE_MAN "Build and install the man pages (needs scdoc)" ON)

set(SLUICE_GEN ${CMAKE_BINARY_DIR}/gen)
file(MAKE_DIRECTORY ${SLUICE_GEN})
set(gen_sh ${PROJECT_SOURCE_DIR}/man/gen.sh)
set(gen_deps ${gen_sh} ${PROJECT_SOURCE_DIR}/man/gen-options.awk ${PROJECT_SOURCE_DIR}/man/options.txt)

add_custom_command(OUTPUT ${SLUICE_GEN}/sluice.bash
  COMMAND sh ${gen_sh} bash ${PROJECT_SOURCE_DIR}/completion/sluice.bash.in ${SLUICE_GEN}/sluice.bash
  DEPENDS ${gen_deps} ${PROJECT_SOURCE_DIR}/completion/sluice.bash.in
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
      COMMAND sh ${gen_sh} man ${PROJECT_SOURCE_DIR}/man/${page}.scd ${SLUICE_GEN}/${page} ${SCDOC}
      DEPENDS ${gen_deps} ${PROJECT_SOURCE_DIR}/man/${page}.scd
      COMMENT "man page ${page}" VERBATIM)
    list(APPEND doc_outputs ${SLUICE_GEN}/${page})
  endforeach()
endif()
add_custom_target(sluice-docs ALL DEPENDS ${doc_outputs})
