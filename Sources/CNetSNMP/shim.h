// net-snmp's headers are not included here: they pull in <sys/select.h>, whose anonymous fd_set struct
// then exists in this module and in Glibc's, and a Swift module importing both (Poller imports Glibc
// for its sockets) fails to build from clean ("__fds_bits ... is not present in definition of fd_set").
// Declare what sotp calls from libnetsnmp, with its exact prototype, instead.
#ifndef CNETSNMP_SHIM_H
#define CNETSNMP_SHIM_H

/// The library's version string (net-snmp/version.h).
const char *netsnmp_get_version(void);

#endif
