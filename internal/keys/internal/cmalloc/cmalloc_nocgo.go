//go:build !cgo

package cmalloc

// InUse is -1 without cgo: there is no C heap to ask about.
func InUse() int64 { return -1 }
