/* weft version numbers. The library's soname follows WEFT_VERSION_MAJOR. */
#ifndef WEFT_VERSION_H
#define WEFT_VERSION_H

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.1.0"

/* Version of the byte format spoken between a program and its worker
 * processes (and later between machines). Bumped on any incompatible change. */
#define WEFT_WIRE_VERSION 1

#endif
