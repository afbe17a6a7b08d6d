package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"github.com/parquet-go/parquet-go"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The join keys of DESIGN.md get columns of their own, so queries that join
// GPU, pod and host data need no map lookups.
const (
	keyHostName         = "host.name"
	keyHwID             = "hw.id"
	keyK8sPodName       = "k8s.pod.name"
	keyK8sNamespaceName = "k8s.namespace.name"
	keyServiceName      = "service.name"
)

// kv is one attribute as written: MAP<string,string>, the one map type every
// engine reads; non-string values are written as OTLP/JSON prints them.
type kv struct {
	key, value string
}

// appendAttrs appends attrs to arena sorted by key, so that a map's entries
// come out the same however the sender ordered them, and returns them with a
// hash that tells series apart for sorting. The hash is FNV-1a, not maphash,
// so the same batch encodes to the same bytes in every process: object
// names derive from the bytes.
func appendAttrs(arena []kv, attrs pcommon.Map) (all, added []kv, hash uint64) {
	start := len(arena)
	for k, v := range attrs.All() {
		e := kv{key: k}
		if v.Type() == pcommon.ValueTypeStr {
			e.value = v.Str()
		} else {
			e.value = v.AsString()
		}
		// Insertion sort: attribute sets are small and usually sorted.
		i := len(arena)
		arena = append(arena, e)
		for i > start && arena[i-1].key > e.key {
			arena[i] = arena[i-1]
			i--
		}
		arena[i] = e
	}
	// Data decoded from the wire can repeat a key; a map must not.
	w := start
	for r := start; r < len(arena); r++ {
		if r > start && arena[r].key == arena[w-1].key {
			continue
		}
		arena[w] = arena[r]
		w++
	}
	arena = arena[:w]
	added = arena[start:w:w]
	h := uint64(fnvOffset)
	for _, e := range added {
		h = fnv1a(fnv1a(h, e.key), e.value)
	}
	return arena, added, h
}

func lookupKV(kvs []kv, key string) *string {
	for i := range kvs {
		if kvs[i].key == key {
			return &kvs[i].value
		}
	}
	return nil
}

// resourceInfo is computed once per resource and shared by its rows.
type resourceInfo struct {
	attrs         []kv
	hash          uint64
	hostName      *string
	hwID          *string
	podName       *string
	namespaceName *string
	serviceName   *string

	// The values of the resource_attributes columns, made once: every row
	// of the resource writes the same ones.
	keyValues, valueValues []parquet.Value
}

// entries appends the resource's map keys (or values) for one row.
func (ri *resourceInfo) entries(dst []parquet.Value, values bool, l leaf) []parquet.Value {
	cached := &ri.keyValues
	if values {
		cached = &ri.valueValues
	}
	if *cached == nil {
		*cached = mapEntries(nil, ri.attrs, values, l)
	}
	return append(dst, *cached...)
}

func newResourceInfo(attrs pcommon.Map) *resourceInfo {
	ri := &resourceInfo{}
	_, ri.attrs, ri.hash = appendAttrs(nil, attrs)
	ri.hostName = lookupKV(ri.attrs, keyHostName)
	ri.hwID = lookupKV(ri.attrs, keyHwID)
	ri.podName = lookupKV(ri.attrs, keyK8sPodName)
	ri.namespaceName = lookupKV(ri.attrs, keyK8sNamespaceName)
	ri.serviceName = lookupKV(ri.attrs, keyServiceName)
	return ri
}

// promoted returns the resource's value of a join key, else the point's:
// some receivers put hw.id or the pod on the point.
func promoted(res *string, point []kv, key string) *string {
	if res != nil {
		return res
	}
	return lookupKV(point, key)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	// A separator, so that ("ab","c") and ("a","bc") differ.
	h ^= 0xff
	h *= fnvPrime
	return h
}

func mixHash(a, b uint64) uint64 {
	return a ^ (b + 0x9E3779B97F4A7C15 + (a << 6) + (a >> 2))
}
