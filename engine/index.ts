/**
 * rtml: the public API for topology files (`import { … } from 'rtml'`).
 */
export { defineTopology, type Topology, type TopologyBuilder, type TopologyOutput, type SourceOptions } from './topology.ts';
export { keyBy, type Keyed } from './operators/keyBy.ts';
export { repartition } from './operators/repartition.ts';
export { window, type WindowOptions, type Windowed } from './operators/window.ts';
export { aggregate, type WindowResult } from './operators/aggregate.ts';
export { enrich, type EnrichOptions, type Enriched } from './operators/enrich.ts';
export { score, type ScoreOptions, type ScoreFeature, type Scored } from './operators/score.ts';
export { tumbling, hopping, session, type WindowSpec, type TumblingWindow, type HoppingWindow, type SessionWindow } from './windowSpecs.ts';
export { count, sum, min, max, avg, distinct, first, last, defineAggregate, type Aggregate, type AggregateResult, type Field } from './aggregates.ts';
export { parseDuration, type Duration } from './duration.ts';
export { RtmlError, ErrorCodes, type ErrorCode } from './errors.ts';
export { runTopology, type RunOptions, type RunStats, type RunProgress } from './runtime.ts';
export type { PredictionSample, PredictionTap } from './predictionTap.ts';
export { InputRecord, type RecordKey, type SourceConnector, type SourceReader, type SourceOpenOptions, type SinkConnector, type SinkWriter } from './io.ts';
export { materialize } from './operators/materialize.ts';
export { featureView, type FeatureView, type FeatureViewSpec, type FeatureRow, type FeatureValue, type FeatureStore, type FeatureWriter, type FeatureSnapshot, type FeatureLookup } from './features.ts';
export { intervalJoin, type IntervalJoinOptions, type IntervalBound } from './operators/intervalJoin.ts';
export { windowJoin, type WindowJoined } from './operators/windowJoin.ts';
export { coGroup, type CoGroupResult } from './operators/coGroup.ts';
export { asOfJoin, type AsOfJoinOptions } from './operators/asOfJoin.ts';
export type { Joined, JoinOptions, JoinType, JoinRight } from './operators/joinInputs.ts';
export { accuracy, rocAuc, logLoss, precisionRecall, calibration, type AccuracyOptions, type AccuracyResult, type PrecisionRecall, type Calibration, type CalibrationBin } from './monitoring/accuracy.ts';
export { monitor, type MonitorOptions, type MonitorTarget } from './operators/monitor.ts';
export { monitorAccuracy, type MonitorAccuracyOptions } from './operators/monitorAccuracy.ts';
export { buildProfile, profileColumn, type ReferenceProfile, type FeatureProfile, type NumericProfile, type CategoricalProfile } from './monitoring/profile.ts';
export { DEFAULT_THRESHOLDS } from './monitoring/drift.ts';
export type { DriftRecord, AccuracyRecord, DriftTest, DistributionTest, MonitoringRecorder } from './monitoring/records.ts';
