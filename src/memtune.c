/* memtune: see memtune.h. */
#include "memtune.h"

#include <malloc.h>

#include "log.h"

void memtune_init(void)
{
	/* mallopt returns 0 under sanitizers' allocators: harmless, nothing to tune. */
	if (mallopt(M_MMAP_THRESHOLD, (int)MEMTUNE_MMAP_THRESHOLD) != 1 ||
	    mallopt(M_TRIM_THRESHOLD, (int)MEMTUNE_TRIM_THRESHOLD) != 1)
		log_debug("memtune: allocator settings not applied");
}
