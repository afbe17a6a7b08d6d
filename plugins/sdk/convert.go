package sdk

import (
	"math"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/acceltel/acceltel/plugins/sdk/proto/benchv1"
)

func infoToProto(i Info) *pb.DescribeResponse {
	r := &pb.DescribeResponse{Name: i.Name, Version: i.Version}
	for _, b := range i.Benchmarks {
		pbb := &pb.Benchmark{Name: b.Name, Description: b.Description, RequiredCapabilities: b.RequiredCapabilities, Units: b.Units}
		for _, p := range b.Parameters {
			pbb.Parameters = append(pbb.Parameters, &pb.Parameter{
				Name: p.Name, Type: pb.Parameter_Type(p.Type), Description: p.Description, DefaultValue: p.Default, Unit: p.Unit,
			})
		}
		r.Benchmarks = append(r.Benchmarks, pbb)
	}
	return r
}

func infoFromProto(r *pb.DescribeResponse) Info {
	i := Info{Name: r.GetName(), Version: r.GetVersion()}
	for _, b := range r.GetBenchmarks() {
		bb := Benchmark{Name: b.GetName(), Description: b.GetDescription(), RequiredCapabilities: b.GetRequiredCapabilities(), Units: b.GetUnits()}
		for _, p := range b.GetParameters() {
			bb.Parameters = append(bb.Parameters, Parameter{
				Name: p.GetName(), Type: ParamType(p.GetType()), Description: p.GetDescription(), Default: p.GetDefaultValue(), Unit: p.GetUnit(),
			})
		}
		i.Benchmarks = append(i.Benchmarks, bb)
	}
	return i
}

func measurementToProto(m Measurement) *pb.Measurement {
	r := &pb.Measurement{Name: m.Name, Unit: m.Unit, Value: m.Value, Attributes: m.Attributes, DurationSeconds: m.Duration.Seconds()}
	if m.Peak > 0 {
		r.ReferencePeak = proto.Float64(m.Peak)
	}
	return r
}

// measurementFromProto trusts nothing a plugin sends: a peak that is not a
// positive finite number and a duration that is negative, NaN or beyond
// what a time.Duration holds become 0, unknown, as Measurement documents.
func measurementFromProto(r *pb.Measurement) Measurement {
	m := Measurement{Name: r.GetName(), Unit: r.GetUnit(), Value: r.GetValue(), Attributes: r.GetAttributes()}
	if p := r.GetReferencePeak(); p > 0 && !math.IsInf(p, 1) {
		m.Peak = p
	}
	if ns := r.GetDurationSeconds() * float64(time.Second); ns > 0 && ns < math.MaxInt64 {
		m.Duration = time.Duration(ns)
	}
	return m
}
