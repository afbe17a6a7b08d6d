package report

// Metric names, as the receivers and processors of the distribution emit
// them (their metadata.yaml and READMEs).
const (
	mUtil           = "hw.gpu.utilization"
	mMemUsage       = "hw.gpu.memory.usage"
	mMemLimit       = "hw.gpu.memory.limit"
	mPower          = "hw.power"
	mTemp           = "hw.temperature"
	mSMActivity     = "nvidia.gpu.sm.activity"
	mTensorActivity = "nvidia.gpu.tensor.activity"
	mThrottle       = "nvidia.gpu.throttle.time"
	mXID            = "nvidia.gpu.xid.errors"
	mECC            = "hw.errors"

	mNCCLBusBW     = "nccl.collective.bus_bandwidth"
	mNCCLBusBWHist = "nccl.operation.bus_bandwidth"
	mNCCLBytes     = "nccl.operation.bytes"
	mNCCLCount     = "nccl.operation.count"
	mNCCLLag       = "nccl.rank.completion.lag"

	mIBUtil = "infiniband.port.utilization"
	mIBWait = "infiniband.port.xmit_wait.ratio"

	mRunq    = "acceltel.ebpf.runqueue.latency"
	mBlockIO = "acceltel.ebpf.blockio.latency"
	mOffCPU  = "acceltel.ebpf.offcpu.duration"

	mAnomFlag      = "acceltel.anomaly.flag"
	mAnomScore     = "acceltel.anomaly.score"
	mAnomStraggler = "acceltel.anomaly.straggler"

	mCostAlloc  = "acceltel.cost.allocated"
	mCostIdle   = "acceltel.cost.idle"
	mCostEnergy = "acceltel.cost.energy"

	mPlanSpeedup   = "acceltel.plan.speedup"
	mPlanRecommend = "acceltel.plan.recommendation"
	mPlanMeasured  = "acceltel.plan.step.duration.measured"
	mPlanPredicted = "acceltel.plan.step.duration.predicted"
	mPlanStepCost  = "acceltel.plan.step.cost"
	mPlanHeadroom  = "acceltel.plan.memory.headroom"
	mPlanError     = "acceltel.plan.prediction.error"
)

// Attribute keys the views group by.
const (
	aHost       = "host.name"
	aHwID       = "hw.id"
	aGPUIndex   = "nvidia.gpu.index"
	aTask       = "hw.gpu.task"
	aSensor     = "hw.sensor_location"
	aThrottle   = "nvidia.gpu.throttle.cause"
	aXID        = "nvidia.gpu.xid"
	aErrType    = "error.type"
	aEccCounter = "nvidia.gpu.ecc.counter"
	aCollective = "nccl.collective"
	aComm       = "nccl.communicator.id"
	aRank       = "nccl.rank"
	aIBDevice   = "infiniband.device"
	aIBPort     = "infiniband.port"
	aDirection  = "network.io.direction"
	aContainer  = "container.id"
	aPodUID     = "k8s.pod.uid"
	aPodName    = "k8s.pod.name"
	aCgroup     = "acceltel.cgroup.path"
	aDevice     = "system.device"
	aOperation  = "acceltel.blockio.operation"
	aNamespace  = "k8s.namespace.name"
	aJobName    = "k8s.job.name"
	aJobID      = "ml.job.id"
	aIdleReason = "acceltel.cost.idle.reason"
	aAnomMetric = "acceltel.anomaly.metric"
	aDetector   = "acceltel.anomaly.detector"
	aLayout     = "acceltel.plan.layout"
)

// throttleCauses are the throttle.time causes that slow work down; the
// others (low_utilization, the total_* clocks settings) describe a GPU that
// had nothing to do or was configured so.
var throttleCauses = map[string]bool{"power": true, "thermal": true, "board_limit": true, "reliability": true, "sync_boost": true}
