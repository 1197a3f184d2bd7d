// Training: the loop, checkpoints, run folders, metrics, reports, progress.
export { train } from './loop';
export type { TrainOptions, TrainResult, TrainContext, StepOutput, MetricValue } from './loop';
export { saveCheckpoint, loadCheckpoint, loadModel, savePytorch, Checkpoint, Checkpoints } from './checkpoint';
export type { OptimizerLike, CheckpointState, CheckpointObject, RestoreTargets, Stateful } from './checkpoint';
export { lockFolder } from './lock';
export { Run, configDiff } from './run';
export type { RunOptions } from './run';
export { MetricsWriter, readMetrics, truncateMetrics, metricNames } from './metrics';
export type { MetricRecord } from './metrics';
export { writeReport, renderReport, linePlot, barPlot } from './report';
export type { ReportOptions } from './report';
export { Progress, formatDuration, formatNumber } from './progress';
export { classifierMetrics } from './evaluate';
export type { ClassifierMetrics } from './evaluate';
export type { ProgressOptions, ProgressFields, ProgressStream } from './progress';
