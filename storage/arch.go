package storage

import "strconv"

// is32Bit is true on 32-bit platforms (linux/arm v6 and v7: Pi Zero, Pi 1
// to 3 on a 32-bit OS), where Badger's memory-mapped files share a 2-3 GiB
// address space with the heap.
const is32Bit = strconv.IntSize == 32
