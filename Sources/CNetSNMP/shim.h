// net-snmp's headers are not included here: they pull in <sys/select.h>, whose anonymous fd_set struct
// then exists in this module and in Glibc's, and a Swift module importing both (Poller imports Glibc
// for its sockets) fails to build from clean ("__fds_bits ... is not present in definition of fd_set").
// Declare what sotp calls from libnetsnmp, with its exact prototype, instead.
#ifndef CNETSNMP_SHIM_H
#define CNETSNMP_SHIM_H

#include <stddef.h>

/// The library's version string (net-snmp/version.h).
const char *netsnmp_get_version(void);

// MIB names for traps (net-snmp/mib_api.h, net-snmp/library/mib.h). `oid` is unsigned long on every
// Linux build (net-snmp/library/oid.h; EIGHTBIT_SUBIDS is never set by Debian).
void netsnmp_set_mib_directory(const char *dir);
void netsnmp_init_mib(void);
struct tree *read_all_mibs(void);
struct tree *netsnmp_read_module(const char *name);
void snmp_set_mib_warnings(int);
void snmp_set_mib_errors(int);
void snmp_set_save_descriptions(int);
/// NETSNMP_LOGHANDLER_NONE (6) at priority LOG_EMERG (0): a handler that drops everything. Without an
/// enabled handler net-snmp writes its messages to stderr regardless (snmp_disable_log is not enough).
struct netsnmp_log_handler_s;
struct netsnmp_log_handler_s *netsnmp_register_loghandler(int type, int pri);
int snprint_objid(char *buf, size_t buf_len, const unsigned long *objid, size_t objidlen);

#endif
