/* weft version numbers. The library's soname follows WEFT_VERSION_MAJOR. */
#ifndef WEFT_VERSION_H
#define WEFT_VERSION_H

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.1.0"

/* Version of the byte format spoken between a program and its worker
 * processes and between the machines of a cluster (docs/protocol.md).
 * Bumped on any incompatible change; peers must match exactly. 2: node task
 * addresses, custom resources and drivers in membership and status. */
#define WEFT_WIRE_VERSION 3

#endif
