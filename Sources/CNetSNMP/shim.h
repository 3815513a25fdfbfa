#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
