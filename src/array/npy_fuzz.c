/* libFuzzer target for the .npy reader: the input is a file (in a memfd).
 * Beyond "no crash, no leak, no read outside a buffer" (ASan), a header
 * that parses must be well formed (a known dtype, at most 8 axes, the data
 * inside the file), a C-order file must load to the same bytes as reading
 * its whole box and any sub-box as a block, and loaded bools are 0 or 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "array/nd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loads larger than this are skipped (the header may promise gigabytes of
 * zeros in a sparse file). */
#define FUZZ_MAX_LOAD (1u << 20)

static void fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "npy_fuzz: invariant broken: %s\n", what);
        abort();
    }
}

/* The sub-box picked by the bytes at the end of the input is, element for
 * element, the same box of the loaded array. */
static void check_block(const char *path, const wf_npy_header *h,
                        const wf_nd *all, const uint8_t *data, size_t size)
{
    int64_t o[WEFT_MAX_NDIM], c[WEFT_MAX_NDIM];
    for (uint32_t d = 0; d < h->ndim; d++) {
        uint8_t x = size > d ? data[size - 1 - d] : 0;
        o[d] = h->shape[d] ? x % (h->shape[d] + 1) : 0;
        c[d] = (x / 7) % (h->shape[d] - o[d] + 1);
    }
    wf_nd b;
    fuzz_check(wf_npy_read_block(path, h, o, c, &b) == 0, "read_block");
    size_t isz = weft_dtype_size(h->dtype);
    int64_t n = wf_nd_size(&b), idx[WEFT_MAX_NDIM] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t flat = 0;
        for (uint32_t d = 0; d < h->ndim; d++)
            flat = flat * h->shape[d] + o[d] + idx[d];
        fuzz_check(memcmp((char *)b.data + (size_t)i * isz,
                          (char *)all->data + (size_t)flat * isz, isz) == 0,
                   "block equals the load");
        for (uint32_t d = h->ndim; d-- > 0;) {
            if (++idx[d] < c[d])
                break;
            idx[d] = 0;
        }
    }
    wf_nd_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("npy_fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    wf_npy_header h;
    if (wf_npy_read_header(path, &h) == 0) {
        fuzz_check(weft_dtype_size(h.dtype) > 0, "known dtype");
        fuzz_check(h.ndim <= WEFT_MAX_NDIM, "axes");
        fuzz_check(h.data_offset <= size, "data offset inside the file");
        uint64_t bytes = weft_dtype_size(h.dtype);
        for (uint32_t d = 0; d < h.ndim; d++) {
            fuzz_check(h.shape[d] >= 0, "dimension >= 0");
            bytes *= (uint64_t)h.shape[d];
        }
        fuzz_check(bytes <= size - h.data_offset, "data inside the file");
        if (bytes <= FUZZ_MAX_LOAD) {
            wf_nd all;
            fuzz_check(wf_npy_load(path, &all) == 0, "load after header");
            fuzz_check(wf_nd_bytes(&all) == bytes, "loaded size");
            if (h.dtype == WEFT_DT_BOOL)
                for (size_t i = 0; i < bytes; i++)
                    fuzz_check(((uint8_t *)all.data)[i] <= 1, "bool 0 or 1");
            if (!h.fortran_order || h.ndim < 2) {
                if (bytes > 0 && h.dtype != WEFT_DT_BOOL)
                    fuzz_check(memcmp(all.data, data + h.data_offset, bytes) ==
                                   0,
                               "load is the file's data");
                check_block(path, &h, &all, data, size);
            }
            wf_nd_free(&all);
        }
    } else {
        wf_nd all = {.ndim = 1};
        fuzz_check(wf_npy_load(path, &all) != 0, "load fails as header");
        fuzz_check(all.data == NULL && all.ndim == 0, "failed load is empty");
    }
    close(fd);
    return 0;
}
