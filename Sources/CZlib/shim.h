// zlib's CRC-32, for the spool's checksums. zlib.h is not included here: through zconf.h it pulls in
// <sys/types.h> and so <sys/select.h>, whose anonymous fd_set would then exist in this module and in
// Glibc's (see CNetSNMP/shim.h). The one function sotp calls is declared with its exact prototype.
#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H

/// Updates a running CRC-32 (IEEE 802.3, as zlib, gzip and PNG) with `len` bytes at `buf`; start with 0.
unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);

#endif
