/* memtrim: hands memory that was freed back to the system.
 *
 * glibc keeps what a burst of connections freed in its heap, resident: a
 * process that served a thousand connections at once stays at that size
 * long after they closed, and each new burst, placed differently, touches
 * more of it.  Every MEMTRIM_MS a timer (unreferenced: it keeps no loop
 * alive) compares the resident size with the bytes malloc has handed out;
 * once the difference has grown by MEMTRIM_MIN since the last trim,
 * malloc_trim() gives the free pages back.  A no-op where the C library is
 * not glibc.
 */
#ifndef SLUICE_MEMTRIM_H
#define SLUICE_MEMTRIM_H

#include <uv.h>

#define MEMTRIM_MS 1000
#define MEMTRIM_MIN (4u << 20)

void memtrim_start(uv_loop_t *loop);

#endif
