package ncclreceiver

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encode writes records as the plugin does (record.h), so tests and the
// fuzzer start from valid datagrams.
func encode(dropped uint32, recs ...record) []byte {
	le := binary.LittleEndian
	b := make([]byte, headerSize+len(recs)*recordSize)
	le.PutUint32(b, wireMagic)
	le.PutUint16(b[4:], wireVersion)
	le.PutUint16(b[6:], recordSize)
	le.PutUint16(b[8:], uint16(len(recs)))
	le.PutUint32(b[12:], dropped)
	for i, r := range recs {
		p := b[headerSize+i*recordSize:]
		le.PutUint64(p[0:], r.CommID)
		le.PutUint64(p[8:], r.Seq)
		le.PutUint64(p[16:], r.Bytes)
		le.PutUint64(p[24:], r.StartUnixNs)
		le.PutUint64(p[32:], r.DurationNs)
		le.PutUint64(p[40:], r.ExecNs)
		for j, v := range []int32{r.Rank, r.NRanks, r.NNodes, r.PID, r.CUDADev, r.Peer} {
			le.PutUint32(p[48+4*j:], uint32(v))
		}
		p[72], p[73] = r.Kind, r.Channels
		le.PutUint16(p[74:], r.Flags)
		copy(p[80:], r.Func[:])
		copy(p[96:], r.Datatype[:])
		copy(p[112:], r.Algo[:])
		copy(p[128:], r.Proto[:])
	}
	return b
}

func name16(s string) (b [16]byte) { copy(b[:], s); return }
func name8(s string) (b [8]byte)   { copy(b[:], s); return }

func sampleRecord(fn string, nranks int32) record {
	return record{
		CommID: 0xabc, Seq: 7, Bytes: 1 << 20, StartUnixNs: 1_700_000_000_000_000_000, DurationNs: 50_000,
		ExecNs: 20_000, Rank: 1, NRanks: nranks, NNodes: 1, PID: 42, CUDADev: 1, Peer: -1,
		Kind: kindColl, Channels: 2, Flags: flagGPUTimer,
		Func: name16(fn), Datatype: name16("ncclFloat32"), Algo: name16("Ring"), Proto: name8("Simple"),
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	in := []record{sampleRecord("AllReduce", 8), sampleRecord("Send", 8)}
	in[1].Kind, in[1].Peer = kindP2P, 2
	got, dropped, errs := decodeDatagram(encode(3, in...), nil)
	require.Empty(t, errs)
	assert.Equal(t, uint32(3), dropped)
	assert.Equal(t, in, got)
}

func TestDecodeRejects(t *testing.T) {
	good := encode(0, sampleRecord("AllReduce", 8), sampleRecord("AllGather", 8))
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	le := binary.LittleEndian
	for _, tt := range []struct {
		name   string
		b      []byte
		reason string
		n, ok  int
	}{
		{"short", good[:10], "truncated", 1, 0},
		{"magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), "magic", 1, 0},
		{"version", mutate(func(b []byte) []byte { le.PutUint16(b[4:], 9); return b }), "version", 2, 0},
		{"record size", mutate(func(b []byte) []byte { le.PutUint16(b[6:], 100); return b }), "record_size", 2, 0},
		{"cut", good[:len(good)-1], "truncated", 2, 0},
		{"rank out of range", mutate(func(b []byte) []byte { le.PutUint32(b[headerSize+48:], 8); return b }), "field", 1, 1},
		{"kind", mutate(func(b []byte) []byte { b[headerSize+recordSize+72] = 9; return b }), "field", 1, 1},
		{"name", mutate(func(b []byte) []byte { b[headerSize+80+15] = 'x'; b[headerSize+80+14] = 0; return b }), "field", 1, 1},
		{"empty name", mutate(func(b []byte) []byte { b[headerSize+80] = 0; return b }), "field", 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _, errs := decodeDatagram(tt.b, nil)
			require.Len(t, errs, 1)
			assert.Equal(t, tt.reason, errs[0].reason)
			assert.Equal(t, tt.n, errs[0].n)
			assert.Len(t, got, tt.ok, "valid records of the same datagram are kept")
			assert.Contains(t, errs[0].Error(), tt.reason)
		})
	}
}

// A longer record from a newer plugin still decodes: fields only get appended.
func TestDecodeLongerRecords(t *testing.T) {
	r := sampleRecord("AllReduce", 4)
	short := encode(0, r)
	b := make([]byte, headerSize+recordSize+8)
	copy(b, short)
	binary.LittleEndian.PutUint16(b[6:], recordSize+8)
	got, _, errs := decodeDatagram(b, nil)
	require.Empty(t, errs)
	assert.Equal(t, []record{r}, got)
}

func TestBusBandwidth(t *testing.T) {
	for _, tt := range []struct {
		fn     string
		nranks int32
		factor float64
	}{
		{"AllReduce", 8, 2 * 7.0 / 8}, {"AllReduce", 1, 0}, {"AllReduce", 0, 0},
		{"ReduceScatter", 8, 7.0 / 8}, {"AllGather", 4, 3.0 / 4}, {"AllToAll", 2, 0.5},
		{"Broadcast", 8, 1}, {"Reduce", 8, 1}, {"Send", 8, 1}, {"Recv", 2, 1},
	} {
		r := sampleRecord(tt.fn, tt.nranks)
		algbw, busbw := bandwidths(&r)
		// 1 MiB in 20 µs of GPU time (not the 50 µs host time).
		assert.InDelta(t, float64(1<<20)/20e-6, algbw, 1e-3, tt.fn)
		assert.InDelta(t, algbw*tt.factor, busbw, 1e-3, "%s n=%d", tt.fn, tt.nranks)
	}
	r := sampleRecord("AllReduce", 2)
	r.Flags = 0 // no GPU timer: host time
	algbw, _ := bandwidths(&r)
	assert.InDelta(t, float64(1<<20)/50e-6, algbw, 1e-3)
}
