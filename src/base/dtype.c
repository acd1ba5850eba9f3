/* Element sizes of the array dtypes: used by every layer that lays out or
 * checks arrays (store, wire), so it lives at the bottom. */
#include <weft/weft.h>

__attribute__((visibility("default"))) size_t weft_dtype_size(weft_dtype dt)
{
    switch (dt) {
    case WEFT_DT_F64:
    case WEFT_DT_I64:
        return 8;
    case WEFT_DT_F32:
    case WEFT_DT_I32:
        return 4;
    case WEFT_DT_U8:
    case WEFT_DT_BOOL:
        return 1;
    }
    return 0;
}
