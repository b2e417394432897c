# Install and packaging rules: `cmake --install` and `cpack -G DEB`.
#
# Layout (PREFIX = CMAKE_INSTALL_PREFIX, /usr/local by default; build the .deb
# from a tree configured with -DCMAKE_INSTALL_PREFIX=/usr):
#   PREFIX/bin                         sluice, sluice-master, sluice-worker
#   PREFIX/include/sluice              the job API headers
#   PREFIX/share/pkgconfig/sluice.pc   `pkg-config --cflags sluice` (relocatable)
#   PREFIX/share/sluice/examples       example job sources
#   PREFIX/lib/sluice/examples         the example jobs, built (*.so)
#   PREFIX/share/sluice/sbin           launch scripts (start-cluster.sh ...)
#   PREFIX/share/doc/sluice            README and docs/*.md
#   PREFIX/lib/systemd/system          sluice-master.service, sluice-worker@.service
#   PREFIX/lib/sysusers.d/sluice.conf  the system user the units run as
#   SYSCONF/sluice                     sluice-env.sh, sluice-defaults.conf, workers
# SYSCONF is /etc for PREFIX /usr (packages), else PREFIX/etc, so an install
# into any prefix stays inside it.
include(GNUInstallDirs)

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SLUICE_CONF_INSTALL_DIR /etc/sluice)
else()
  set(SLUICE_CONF_INSTALL_DIR ${CMAKE_INSTALL_SYSCONFDIR}/sluice)
endif()
if(IS_ABSOLUTE "${SLUICE_CONF_INSTALL_DIR}")
  set(SLUICE_CONF_FULL_DIR ${SLUICE_CONF_INSTALL_DIR})
  set(SLUICE_CONF_SCRIPT_DIR ${SLUICE_CONF_INSTALL_DIR})
else()
  set(SLUICE_CONF_FULL_DIR ${CMAKE_INSTALL_PREFIX}/${SLUICE_CONF_INSTALL_DIR})
  set(SLUICE_CONF_SCRIPT_DIR "$_sluice_prefix/${SLUICE_CONF_INSTALL_DIR}")
endif()
set(SLUICE_DOC_FULL_DIR ${CMAKE_INSTALL_FULL_DATADIR}/doc/sluice)
set(SLUICE_EXAMPLE_LIB_DIR ${CMAKE_INSTALL_LIBDIR}/sluice/examples)

install(TARGETS sluice sluice-master sluice-worker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The channels' system job library, where the master looks by default
# (BINDIR/../lib/sluice_system.so, master/channels.c).
install(TARGETS sluice_system LIBRARY DESTINATION lib)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/sluice DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")

# Relocatable (relative to the .pc file) unless installed into /usr, where
# pkg-config then recognises /usr/include as a system directory.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SLUICE_PC_PREFIX /usr)
else()
  set(SLUICE_PC_PREFIX "\${pcfiledir}/../..")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/sluice.pc.in ${PROJECT_BINARY_DIR}/sluice.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sluice.pc DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)

file(GLOB _example_srcs ${PROJECT_SOURCE_DIR}/examples/*.c)
file(GLOB _example_hdrs ${PROJECT_SOURCE_DIR}/examples/*.h)
install(FILES ${_example_srcs} ${_example_hdrs} DESTINATION ${CMAKE_INSTALL_DATADIR}/sluice/examples)
foreach(src ${_example_srcs})
  get_filename_component(name ${src} NAME_WE)
  install(TARGETS ${name} LIBRARY DESTINATION ${SLUICE_EXAMPLE_LIB_DIR})
endforeach()

set(_sbin ${CMAKE_INSTALL_DATADIR}/sluice/sbin)
install(PROGRAMS
  ${PROJECT_SOURCE_DIR}/scripts/start-cluster.sh ${PROJECT_SOURCE_DIR}/scripts/stop-cluster.sh
  ${PROJECT_SOURCE_DIR}/scripts/start-master.sh ${PROJECT_SOURCE_DIR}/scripts/stop-master.sh
  ${PROJECT_SOURCE_DIR}/scripts/start-workers.sh ${PROJECT_SOURCE_DIR}/scripts/stop-workers.sh
  ${PROJECT_SOURCE_DIR}/scripts/cluster-status.sh ${PROJECT_SOURCE_DIR}/scripts/sluice-daemon.sh
  ${PROJECT_SOURCE_DIR}/scripts/gen-certs.sh
  DESTINATION ${_sbin})
configure_file(${PROJECT_SOURCE_DIR}/packaging/install-paths.sh.in
  ${PROJECT_BINARY_DIR}/packaging/install-paths.sh @ONLY)
install(FILES ${PROJECT_SOURCE_DIR}/scripts/sluice-config.sh
  ${PROJECT_BINARY_DIR}/packaging/install-paths.sh DESTINATION ${_sbin})

install(FILES ${PROJECT_SOURCE_DIR}/conf/sluice-env.sh.template DESTINATION ${SLUICE_CONF_INSTALL_DIR}
  RENAME sluice-env.sh)
install(FILES ${PROJECT_SOURCE_DIR}/conf/sluice-defaults.conf.template
  DESTINATION ${SLUICE_CONF_INSTALL_DIR} RENAME sluice-defaults.conf)
install(FILES ${PROJECT_SOURCE_DIR}/conf/workers.template DESTINATION ${SLUICE_CONF_INSTALL_DIR}
  RENAME workers)

foreach(unit sluice-master.service sluice-worker@.service)
  configure_file(${PROJECT_SOURCE_DIR}/packaging/${unit}.in ${PROJECT_BINARY_DIR}/packaging/${unit} @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/packaging/${unit} DESTINATION lib/systemd/system)
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/packaging/sluice.sysusers DESTINATION lib/sysusers.d
  RENAME sluice.conf)

file(GLOB _docs ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${_docs} DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/sluice)

# ---- cpack -G DEB ----
# Depends: from dpkg-shlibdeps (the libraries the binaries link: libnng,
# librdkafka, liblz4, libsqlite3, libcjson, libprotobuf-c, libmbedcrypto, libc)
# plus adduser for the postinst that creates the sluice user, and libcurl4,
# which the master loads with dlopen for email alerts (master/notify.c), so
# dpkg-shlibdeps cannot see it.
set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "Sluice")
set(CPACK_PACKAGE_CONTACT "Sluice developers <sluice-dev@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "distributed micro-batch stream-processing runtime")
set(CPACK_PACKAGE_DESCRIPTION "Sluice runs streaming jobs (C shared libraries) as micro-batches on a
cluster: a master schedules each batch's tasks onto workers that keep
received data in replicated blocks. Includes the job API headers, a
pkg-config file, example jobs, launch scripts and systemd units.")
set(CPACK_GENERATOR DEB)
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libcurl4")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "openssh-client, openssl")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "gcc, libc6-dev, pkg-config, make")
set(_conffiles ${PROJECT_BINARY_DIR}/packaging/conffiles)
file(WRITE ${_conffiles} "${SLUICE_CONF_FULL_DIR}/sluice-env.sh\n"
  "${SLUICE_CONF_FULL_DIR}/sluice-defaults.conf\n${SLUICE_CONF_FULL_DIR}/workers\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/postinst
  ${PROJECT_SOURCE_DIR}/packaging/postrm ${_conffiles})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
