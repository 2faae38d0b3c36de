//go:build cgo

// Package cmalloc reports how much of the C heap is in use, for the tests
// that check the OpenSSL build frees what libcrypto allocates. Test files
// cannot use cgo, hence a package; nothing in the service imports it.
package cmalloc

/*
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static long long cmalloc_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
	struct mallinfo2 mi = mallinfo2();
	return (long long)(mi.uordblks + mi.hblkhd);
#else
	return -1;
#endif
}
*/
import "C"

// InUse is the C heap in use (allocated and not freed), in bytes, or -1
// where the C library does not tell (glibc before 2.33, musl). Unlike the
// resident set size it is not held up by malloc keeping freed memory for
// reuse.
func InUse() int64 { return int64(C.cmalloc_in_use()) }
