package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"

import (
	"encoding/binary"
	"fmt"
)

// The wire format of native/nccl-profiler/record.h: a 16-byte header and
// fixed-size little-endian records. A record size larger than ours is
// accepted (fields may be appended); a smaller one is not.
const (
	wireMagic   = 0x4c434e41 // "ANCL"
	wireVersion = 1
	headerSize  = 16
	recordSize  = 136
	maxChannels = 64 // NCCL's MAXCHANNELS
	maxDuration = uint64(24 * 3600 * 1e9)
	// maxBytes bounds one operation's size: 256 TiB, far beyond any GPU's
	// memory; more is garbage, and would overflow the int64 byte counter.
	maxBytes = uint64(1) << 48

	kindColl = 1
	kindP2P  = 2

	flagGPUTimer = 1 << 0
)

// record is one NCCL operation. The strings stay fixed arrays so a record,
// and the series key made from it, costs no allocation.
type record struct {
	CommID, Seq, Bytes        uint64
	StartUnixNs, DurationNs   uint64
	ExecNs                    uint64
	Rank, NRanks, NNodes, PID int32
	CUDADev, Peer             int32
	Kind, Channels            uint8
	Flags                     uint16
	Func, Datatype, Algo      [16]byte
	Proto                     [8]byte
}

// wireError says why records were rejected and how many.
type wireError struct {
	reason string // one of the metadata enum values of error.type
	n      int
	detail string
}

func (e *wireError) Error() string {
	return fmt.Sprintf("nccl record: %s (%s), %d record(s) dropped", e.reason, e.detail, e.n)
}

// decodeDatagram appends the valid records of b to out. A bad header rejects
// the whole datagram; a bad record rejects only itself, so nothing valid is
// lost. dropped is the sender's own count of records it could not send.
func decodeDatagram(b []byte, out []record) (recs []record, dropped uint32, errs []wireError) {
	if len(b) < headerSize {
		return out, 0, []wireError{{reason: "truncated", n: 1, detail: fmt.Sprintf("%d bytes, header needs %d", len(b), headerSize)}}
	}
	le := binary.LittleEndian
	count := int(le.Uint16(b[8:]))
	n := max(count, 1)
	if m := le.Uint32(b); m != wireMagic {
		return out, 0, []wireError{{reason: "magic", n: 1, detail: fmt.Sprintf("magic %#x", m)}}
	}
	if v := le.Uint16(b[4:]); v != wireVersion {
		return out, 0, []wireError{{reason: "version", n: n, detail: fmt.Sprintf("version %d, want %d", v, wireVersion)}}
	}
	size := int(le.Uint16(b[6:]))
	if size < recordSize {
		return out, 0, []wireError{{reason: "record_size", n: n, detail: fmt.Sprintf("record size %d < %d", size, recordSize)}}
	}
	dropped = le.Uint32(b[12:])
	if len(b) != headerSize+count*size {
		return out, dropped, []wireError{{reason: "truncated", n: n, detail: fmt.Sprintf("%d bytes for %d records of %d", len(b), count, size)}}
	}
	bad := 0
	var first string
	for i := range count {
		p := b[headerSize+i*size:]
		var r record
		r.CommID = le.Uint64(p[0:])
		r.Seq = le.Uint64(p[8:])
		r.Bytes = le.Uint64(p[16:])
		r.StartUnixNs = le.Uint64(p[24:])
		r.DurationNs = le.Uint64(p[32:])
		r.ExecNs = le.Uint64(p[40:])
		r.Rank = int32(le.Uint32(p[48:]))
		r.NRanks = int32(le.Uint32(p[52:]))
		r.NNodes = int32(le.Uint32(p[56:]))
		r.PID = int32(le.Uint32(p[60:]))
		r.CUDADev = int32(le.Uint32(p[64:]))
		r.Peer = int32(le.Uint32(p[68:]))
		r.Kind = p[72]
		r.Channels = p[73]
		r.Flags = le.Uint16(p[74:])
		copy(r.Func[:], p[80:96])
		copy(r.Datatype[:], p[96:112])
		copy(r.Algo[:], p[112:128])
		copy(r.Proto[:], p[128:136])
		if why := r.check(); why != "" {
			if bad == 0 {
				first = fmt.Sprintf("record %d: %s", i, why)
			}
			bad++
			continue
		}
		out = append(out, r)
	}
	if bad > 0 {
		errs = []wireError{{reason: "field", n: bad, detail: first}}
	}
	return out, dropped, errs
}

// check rejects what the plugin never writes, so garbage does not become a
// series: a wrong kind, ranks out of range, absurd times, non-ASCII names.
func (r *record) check() string {
	switch {
	case r.Kind != kindColl && r.Kind != kindP2P:
		return fmt.Sprintf("kind %d", r.Kind)
	case r.NRanks < 0 || r.Rank < 0 || (r.NRanks > 0 && r.Rank >= r.NRanks):
		return fmt.Sprintf("rank %d of %d", r.Rank, r.NRanks)
	case r.NNodes < 0 || (r.NRanks > 0 && r.NNodes > r.NRanks):
		return fmt.Sprintf("%d nodes for %d ranks", r.NNodes, r.NRanks)
	case r.DurationNs > maxDuration || r.ExecNs > maxDuration:
		return "duration over a day"
	case r.Bytes > maxBytes:
		return fmt.Sprintf("%d bytes", r.Bytes)
	case r.Channels > maxChannels:
		return fmt.Sprintf("%d channels", r.Channels)
	case r.Func[0] == 0:
		return "no operation name"
	}
	for _, s := range [][]byte{r.Func[:], r.Datatype[:], r.Algo[:], r.Proto[:]} {
		if !paddedASCII(s) {
			return "name not NUL-padded printable ASCII"
		}
	}
	return ""
}

func paddedASCII(s []byte) bool {
	end := false
	for _, c := range s {
		switch {
		case c == 0:
			end = true
		case end || c < 0x20 || c > 0x7e:
			return false
		}
	}
	return true
}

// cstr returns the name in a fixed field; check has made it ASCII.
func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
