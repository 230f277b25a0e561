#ifndef MEDIC_ETCD_ID_H
#define MEDIC_ETCD_ID_H
#include <stddef.h>
#include <stdint.h>

/* etcd member IDs are uint64. People and etcdctl's table/simple output show them as lower-case hex
 * without padding ("62bcf33650a7170a"); the JSON gateway carries them as decimal strings (or numbers);
 * etcdctl's -w json prints bare decimal numbers. These helpers convert exactly, with no detour through
 * a double. No Lua in this interface. */

/* Longest text form of a uint64 plus NUL: 20 decimal digits. */
#define ETCD_ID_BUFSZ 21

/* Parses hex as etcdctl's `member remove` does (Go ParseUint(s, 16, 64)): one or more hex digits, either
 * case, no prefix, no sign, no spaces; leading zeros allowed; the value must fit 64 bits. An all-digit
 * string is hex too ("10" is 16). Returns 0 on success, -1 on bad input. */
int etcd_id_parse_hex(const char *s, size_t len, uint64_t *out);

/* Parses an unsigned decimal integer (the gateway's uint64-as-string): digits only, fits 64 bits.
 * Returns 0 on success, -1 on bad input. */
int etcd_id_parse_dec(const char *s, size_t len, uint64_t *out);

/* Formats as etcdctl prints: lower-case hex, no padding. buf needs ETCD_ID_BUFSZ bytes. */
void etcd_id_format_hex(uint64_t id, char *buf);

/* Formats as decimal (what the gateway wants in a request body). buf needs ETCD_ID_BUFSZ bytes. */
void etcd_id_format_dec(uint64_t id, char *buf);

#endif
