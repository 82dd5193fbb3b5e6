/* memtune: process-wide allocator settings for the block data path.
 *
 * Every block passes through heap buffers of up to BLOCK_MAX bytes (the
 * received body, LMDB's dirty pages). glibc serves such sizes from fresh
 * mmaps and trims freed memory back to the kernel, so each block lands in
 * pages the kernel must fault in and zero again; on VMs with free page
 * reporting every such page also costs a host fault. memtune_init keeps
 * freed memory in the process for reuse instead: it bounds what is kept,
 * never what may be allocated. Call once, first thing in main(). */
#ifndef MPACK_MEMTUNE_H
#define MPACK_MEMTUNE_H

#define MEMTUNE_MMAP_THRESHOLD (8u << 20)  /* above 4 × BLOCK_MAX: blocks come from the heap */
#define MEMTUNE_TRIM_THRESHOLD (64u << 20) /* free heap kept before it is given back */

void memtune_init(void);

#endif
